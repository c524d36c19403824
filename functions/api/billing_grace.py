"""Lambda entry point of the billing grace sweep (EventBridge schedule, e.g. every 15 minutes).

A failed payment keeps Pro until `grace_until`; nothing from Stripe marks that moment, so this
schedule downgrades users whose grace has run out (rules disabled, user notified). It imports no
FastAPI and no stripe: the base layer is enough.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from tidewatch import runtime
from tidewatch.billing.grace import expire_grace_periods
from tidewatch.db import Database
from tidewatch.entrypoint import run_typed
from tidewatch.events import ScheduledEvent
from tidewatch.observability import MetricUnit, logger, metrics, tracer


class GraceSweepResult(BaseModel):
    downgraded_user_ids: list[int]


def sweep(event: ScheduledEvent, *, database: Database) -> GraceSweepResult:
    # The schedule's own time is "now": a delayed or retried invocation judges the same moment.
    changes = expire_grace_periods(database, now=event.time)
    metrics.add_metric(name="GraceDowngrades", unit=MetricUnit.Count, value=len(changes))
    return GraceSweepResult(downgraded_user_ids=[c.user_id for c in changes])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, ScheduledEvent, _sweep_with_runtime)


def _sweep_with_runtime(event: ScheduledEvent) -> GraceSweepResult:
    return sweep(event, database=runtime.database())
