"""Lambda entry point of the rules function (EventBridge schedule and "market changed" events)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from rules import logic
from rules.deps import production_deps
from tidewatch import runtime
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest, MarketChangedEvent, ScheduledEvent
from tidewatch.health import check_health
from tidewatch.observability import logger, metrics, tracer
from tidewatch.rules.sharding import ShardMessage

RulesEvent = Annotated[ScheduledEvent | MarketChangedEvent | HealthRequest, Field(union_mode="left_to_right")]


def _dispatch(event: ScheduledEvent | MarketChangedEvent | HealthRequest) -> Any:
    if isinstance(event, HealthRequest):
        return check_health(runtime.database(), runtime.redis_client())
    if isinstance(event, MarketChangedEvent):
        return logic.evaluate_market_changed(event, deps=production_deps())
    return logic.evaluate_scheduled(event, deps=production_deps())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, RulesEvent, _dispatch)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def shard_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One or more shard messages from the SQS shard queue; failed ones are reported for redelivery.

    The answer carries `batchItemFailures` (SQS partial-batch response: only those messages come
    back, the others are deleted) and, for logs and the in-process run, each shard's report.
    """
    processor = BatchProcessor(event_type=EventType.SQS)
    reports: list[dict[str, Any]] = []

    def handle(record: SQSRecord) -> None:
        message = ShardMessage.model_validate_json(record.body)
        reports.append(logic.evaluate_shard(message, deps=production_deps()))

    with processor(records=event.get("Records", []), handler=handle):
        processor.process()
    return {**processor.response(), "reports": reports}
