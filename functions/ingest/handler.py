"""Lambda entry point of the ingest function.

Events: the EventBridge schedule (read and record every market), a positions request (the API's
portfolio view invokes it, or imports `tidewatch.protocols.positions` directly), and health.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from ingest import deps, logic
from tidewatch import runtime
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.health import check_health
from tidewatch.observability import MetricUnit, logger, metrics, tracer
from tidewatch.protocols.positions import get_positions, positions_cache


class PositionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["positions"]
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    chain_ids: list[int] | None = None


IngestEvent = Annotated[ScheduledEvent | PositionsRequest | HealthRequest, Field(union_mode="left_to_right")]


def _dispatch(event: ScheduledEvent | PositionsRequest | HealthRequest) -> Any:
    if isinstance(event, HealthRequest):
        return check_health(runtime.database(), runtime.redis_client())
    if isinstance(event, PositionsRequest):
        metrics.add_metric(name="PositionsRead", unit=MetricUnit.Count, value=1)
        return get_positions(
            event.address,
            registry=deps.registry(),
            clients=deps.chain_clients(),
            cache=positions_cache(runtime.redis_client(), deps.read_settings().position_cache_ttl_seconds),
            chain_ids=event.chain_ids,
            discovery=deps.discovery_cache(),
        )
    return logic.run_tick(
        event,
        database=runtime.database(),
        redis=runtime.redis_client(),
        registry=deps.registry(),
        clients=deps.chain_clients(),
        publisher=deps.publisher(),
        market_ttl_seconds=deps.read_settings().market_cache_ttl_seconds,
        chunk_size=deps.read_settings().multicall_chunk_size,
        discovery=deps.discovery_cache(),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, IngestEvent, _dispatch)
