"""Lambda entry point of the wallet function (invoked synchronously by the api and rules functions,
and every minute by an EventBridge schedule that polls receipts)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidewatch import deadline
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.observability import logger, metrics, tracer
from tidewatch.transactions.models import BroadcastRequest, PollRequest, PrepareRequest
from wallet import logic
from wallet.deps import WalletDeps, production_deps

DEADLINE_MARGIN_SECONDS = 1.0
REQUEST_BUDGET_SECONDS = 8.0  # below the api's request deadline (ApiSettings.request_deadline_seconds)
RPC_BUDGET_SECONDS = 6.0


def handle(event: dict[str, Any], context: LambdaContext, deps: WalletDeps) -> dict[str, Any]:
    """The envelope for one event, with these collaborators (tests pass their own)."""

    def dispatch(typed: ScheduledEvent | PrepareRequest | BroadcastRequest | PollRequest | HealthRequest) -> Any:
        if isinstance(typed, HealthRequest):
            return logic.health(deps.database)
        return logic.handle(typed, deps.service)

    # The api waits for this answer inside its own 10 s request deadline: chain and database waits
    # end within the same budgets (and before this function's timeout), so the caller gets a clean
    # `chain-unavailable` / `database-unavailable` problem instead of a timeout.
    left = context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS
    with deadline.bounded(request=max(min(left, REQUEST_BUDGET_SECONDS), 0.5), rpc=RPC_BUDGET_SECONDS):
        return run_typed(event, logic.WalletEvent, dispatch)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context, production_deps())
