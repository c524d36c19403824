"""Lambda entry point of the migrations function (CloudFormation custom resource or direct invoke).

CloudFormation invokes it on every deploy that changes the code (the custom resource names the
function's published version), so new migration files are applied before the new code serves.
"""

from __future__ import annotations

from typing import Any

import psycopg
from aws_lambda_powertools.utilities.typing import LambdaContext

from migrations import logic
from migrations.cfn import CustomResourceEvent
from migrations.deps import MigrationsDeps, production_deps
from tidewatch.db import DatabaseUnavailable
from tidewatch.entrypoint import run_typed
from tidewatch.observability import logger, metrics, tracer


def _unreachable(exc: Exception) -> bool:
    # Connection failures and pool timeouts (`tidewatch.db` reports them as DatabaseUnavailable);
    # SQL errors in a migration are other classes.
    return isinstance(exc, psycopg.OperationalError | DatabaseUnavailable)


def handle(event: dict[str, Any], context: LambdaContext, deps: MigrationsDeps) -> dict[str, Any]:
    if isinstance(event, dict) and "ResponseURL" in event:
        try:
            request = CustomResourceEvent.model_validate(event)
        except Exception:
            # Unparseable but carries a ResponseURL: nothing sensible to answer with; log and stop.
            logger.exception("malformed custom resource event")
            return {"status": "FAILED", "applied": []}
        seconds_left = context.get_remaining_time_in_millis() / 1000
        # Leave a minute for the migrations themselves before the watchdog answers FAILED.
        migrate = logic.retrying(deps.migrate, is_transient=_unreachable, give_up_after_seconds=seconds_left - 70)
        return logic.handle_custom_resource(request, migrate=migrate, send=deps.send, seconds_left=seconds_left)
    migrate = logic.retrying(deps.migrate, is_transient=_unreachable, give_up_after_seconds=60)

    def direct(request: logic.MigrateRequest) -> dict[str, Any]:
        return logic.handle_direct(request, migrate=migrate)

    return run_typed(event, logic.MigrateRequest, direct)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context, production_deps())
