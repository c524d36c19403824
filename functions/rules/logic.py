"""Rules function logic: a scheduled tick or a "market changed" event → a coordinated, sharded tick.

The coordinator splits the tick into shards and hands them to the dispatcher (SQS in AWS, a thread
pool through the shard handler locally); `evaluate_shard` is what each shard invocation runs.
"""

from __future__ import annotations

from typing import Any

from rules.deps import RulesDeps
from tidewatch.events import MarketChangedEvent, ScheduledEvent
from tidewatch.observability import logger
from tidewatch.rules.coordinator import coordinate_tick
from tidewatch.rules.shard_tick import run_shard
from tidewatch.rules.sharding import ShardMessage


def evaluate_scheduled(event: ScheduledEvent, *, deps: RulesDeps) -> dict[str, Any]:
    """Every rule whose cadence is due at the event's time (the window comes from the event)."""
    tick = coordinate_tick(
        tick_id=event.id,
        trigger="schedule",
        at=event.time,
        database=deps.database,
        markets=deps.sources.markets,
        redis=deps.redis,
        dispatcher=deps.dispatcher,
        max_rules_per_shard=deps.max_rules_per_shard,
    )
    # Once per tick, not per shard: webhook retries and actions of earlier firings left unfinished.
    retried = deps.webhooks.retry_due()
    actions_retried = deps.runner.retry_unfinished(now=event.time)
    return {
        "trigger": "schedule",
        "event_id": event.id,
        **tick.as_dict(),
        "webhook_retries": len(retried),
        "actions_retried": actions_retried,
    }


def evaluate_market_changed(event: MarketChangedEvent, *, deps: RulesDeps) -> dict[str, Any]:
    """Push the new rates live, then evaluate the rules that look at the changed market.

    The evaluation window comes from the block's observation time, so a redelivered event (or the
    schedule in the same window) cannot fire a rule twice.
    """
    detail = event.detail
    pushed = 0
    if deps.broadcaster is not None:
        try:
            pushed = deps.broadcaster.publish_market(detail.market_id, detail.live_update()).delivered
        except Exception as exc:  # live updates are best effort; rules must still run
            logger.warning("market push failed", extra={"market_id": detail.market_id, "error": str(exc)})
    tick = coordinate_tick(
        tick_id=event.id,
        trigger="market_changed",
        at=detail.observed_at,
        database=deps.database,
        markets=deps.sources.markets,
        redis=deps.redis,
        dispatcher=deps.dispatcher,
        max_rules_per_shard=deps.max_rules_per_shard,
        changed_markets=[detail.market_id],
    )
    return {"trigger": "market_changed", "event_id": event.id, "pushed": pushed, **tick.as_dict()}


def evaluate_shard(message: ShardMessage, *, deps: RulesDeps) -> dict[str, Any]:
    """One shard of a tick: its rules only, against the tick's shared market snapshot."""
    return run_shard(
        message,
        database=deps.database,
        sources=deps.sources,
        runner=deps.runner,
        caches=deps.shard_caches,
        redis=deps.redis,
    )
