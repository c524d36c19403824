"""Lambda entry point of the wallet function (invoked synchronously by the api and rules functions,
and every minute by an EventBridge schedule that polls receipts)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidewatch import runtime
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.observability import logger, metrics, tracer
from tidewatch.transactions.models import BroadcastRequest, PollRequest, PrepareRequest
from wallet import deps, logic


def _dispatch(event: ScheduledEvent | PrepareRequest | BroadcastRequest | PollRequest | HealthRequest) -> Any:
    if isinstance(event, HealthRequest):
        return logic.health(runtime.database())
    return logic.handle(event, deps.wallet_service())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, logic.WalletEvent, _dispatch)
