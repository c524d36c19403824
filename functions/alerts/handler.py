"""Lambda entry point of the alerts function (SQS deliveries, the sweep schedule, SES notifications)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from alerts import logic
from alerts.deps import production_deps
from alerts.events import SnsEvent, SqsEvent
from tidewatch import runtime
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.health import check_health
from tidewatch.observability import logger, metrics, tracer

AlertsEvent = Annotated[SqsEvent | SnsEvent | ScheduledEvent | HealthRequest, Field(union_mode="left_to_right")]


def _dispatch(event: SqsEvent | SnsEvent | ScheduledEvent | HealthRequest) -> Any:
    if isinstance(event, HealthRequest):
        return check_health(runtime.database(), runtime.redis_client())
    if isinstance(event, SqsEvent):
        return logic.handle_queue(event, deps=production_deps())  # only when called through run_typed
    if isinstance(event, SnsEvent):
        return logic.handle_ses(event, deps=production_deps())
    return logic.sweep(event, deps=production_deps())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if (
        isinstance(records, list)
        and records
        and isinstance(records[0], dict)
        and records[0].get("eventSource") == "aws:sqs"
    ):
        # SQS reads `batchItemFailures` at the top level (ReportBatchItemFailures), not in an envelope.
        return logic.handle_queue(SqsEvent.model_validate(event), deps=production_deps())
    return run_typed(event, AlertsEvent, _dispatch)
