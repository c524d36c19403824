"""Lambda entry point of the ingest function.

Events: the EventBridge schedule (read and record every market), the hourly heal schedule
(`{"action": "backfill"}`: hours a tick missed are read from the chain at past blocks), an
explicit backfill request (`"mode": "window"`), and health.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from ingest import logic
from ingest.deps import IngestDeps, production_deps
from tidewatch import runtime
from tidewatch.backfill.service import BackfillRequest, run_backfill
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.health import check_health
from tidewatch.observability import MetricUnit, logger, metrics, tracer

IngestEvent = Annotated[ScheduledEvent | BackfillRequest | HealthRequest, Field(union_mode="left_to_right")]
# A backfill stops this long before the Lambda timeout; the next heal run resumes it.
_BACKFILL_MARGIN_MS = 10_000


def _backfill(event: BackfillRequest, context: LambdaContext | None, deps: IngestDeps) -> Any:
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def out_of_time() -> bool:
        return remaining is not None and int(remaining()) < _BACKFILL_MARGIN_MS

    report = run_backfill(
        event,
        database=deps.database,
        registry=deps.registry,
        clients=deps.backfill_clients,
        settings=deps.backfill,
        now=datetime.now(tz=UTC),
        chunk_size=deps.read.multicall_chunk_size,
        discovery=deps.discovery,
        should_stop=out_of_time,
    )
    metrics.add_metric(
        name="BackfillBuckets", unit=MetricUnit.Count, value=sum(int(str(c.get("filled", 0))) for c in report.chains)
    )
    return report


def _dispatch(event: ScheduledEvent | BackfillRequest, context: LambdaContext | None, deps: IngestDeps) -> Any:
    if isinstance(event, BackfillRequest):
        return _backfill(event, context, deps)
    return logic.run_tick(
        event,
        database=deps.database,
        redis=deps.redis,
        registry=deps.registry,
        clients=deps.clients,
        publisher=deps.publisher,
        market_ttl_seconds=deps.read.market_cache_ttl_seconds,
        chunk_size=deps.read.multicall_chunk_size,
        discovery=deps.discovery,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def logic(typed: ScheduledEvent | BackfillRequest | HealthRequest) -> Any:
        if isinstance(typed, HealthRequest):  # the stores only: a probe builds no chain clients
            return check_health(runtime.database(), runtime.redis_client())
        return _dispatch(typed, context, production_deps())

    return run_typed(event, IngestEvent, logic)
