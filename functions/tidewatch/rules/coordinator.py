"""The coordinating half of a sharded rules tick: count, plan, share the snapshot, fan out.

A scheduled tick (every enabled rule) or a "market changed" event (the rules watching those
markets or prices) is split into shards of bounded size (`tidewatch.rules.sharding`), the tick's
market snapshot is read once and shared through Redis, and one message per shard goes to the
dispatcher. The coordinator itself loads no rule and evaluates nothing, so its cost grows with the
number of buckets (1,024), not with the number of rules.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tidewatch.cache import RedisClient
from tidewatch.db import Database
from tidewatch.observability import MetricUnit, logger, metrics
from tidewatch.rules.shard_dispatch import ShardDispatcher
from tidewatch.rules.shard_store import bucket_counts, split_points
from tidewatch.rules.sharding import ShardMessage, plan_shards
from tidewatch.rules.shared_markets import publish_tick_markets, tick_markets_key
from tidewatch.rules.snapshot import MarketSnapshotSource

# Report fields the shards' own reports are summed into (inline dispatch).
_SUMMED = ("rules", "evaluated", "matched", "fired", "duplicates", "rearmed", "action_failures")


@dataclass(frozen=True)
class CoordinatedTick:
    at: str
    shards: int
    counted_rules: int
    queued: int
    failed_shards: list[str]
    plan_ms: float
    totals: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "shards": self.shards,
            "counted_rules": self.counted_rules,
            "queued": self.queued,
            "failed_shards": self.failed_shards,
            "plan_ms": self.plan_ms,
            **self.totals,
        }


def coordinate_tick(
    *,
    tick_id: str,
    trigger: Literal["schedule", "market_changed"],
    at: datetime,
    database: Database,
    markets: MarketSnapshotSource,
    redis: RedisClient | None,
    dispatcher: ShardDispatcher,
    max_rules_per_shard: int,
    changed_markets: Sequence[int] | None = None,
) -> CoordinatedTick:
    started = time.perf_counter()
    watched = list(changed_markets or ()) if trigger == "market_changed" else None
    counts = bucket_counts(database, watched)
    plan = plan_shards(
        counts,
        max_rules=max_rules_per_shard,
        split_bucket=lambda bucket, parts: split_points(database, bucket, parts, watched),
    )
    markets_key: str | None = None
    if plan:
        key = tick_markets_key(f"{trigger}:{tick_id}")
        markets_key = key if publish_tick_markets(redis, key, markets.latest_markets()) else None
    messages = [
        ShardMessage(
            tick_id=tick_id,
            trigger=trigger,
            at=at,
            shard=shard,
            changed_markets=tuple(watched or ()),
            markets_key=markets_key,
            expected_rules=n,
        )
        for shard, n in plan
    ]
    planned = time.perf_counter()
    outcome = dispatcher.dispatch(messages)
    totals = {name: sum(int(r.get(name, 0)) for r in outcome.reports) for name in _SUMMED}
    metrics.add_metric(name="RulesShards", unit=MetricUnit.Count, value=len(messages))
    if outcome.failed:
        metrics.add_metric(name="RulesShardFailed", unit=MetricUnit.Count, value=len(outcome.failed))
    report = CoordinatedTick(
        at=at.isoformat(),
        shards=len(messages),
        counted_rules=sum(n for _, n in plan),
        queued=outcome.queued,
        failed_shards=outcome.failed,
        plan_ms=round((planned - started) * 1000, 2),
        totals=totals,
    )
    logger.info("rules tick coordinated", extra={"report": report.as_dict()})
    return report
