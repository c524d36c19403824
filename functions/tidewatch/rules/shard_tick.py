"""The evaluating half of a sharded rules tick: one shard's rules, the shared snapshot, claims.

A shard loads only the rules of its range (one indexed scan, cached between ticks of a warm
container), takes the tick's market snapshot from the coordinator's shared copy, and evaluates,
claims and acts exactly as an unsharded tick does. The evaluation window comes from the message's
time, so a redelivered or retried message fires nothing twice.
"""

from __future__ import annotations

from typing import Any

from tidewatch.cache import RedisClient
from tidewatch.db import Database
from tidewatch.rules.actions import ActionRunner
from tidewatch.rules.shard_store import ShardRuleCaches
from tidewatch.rules.sharding import ShardMessage
from tidewatch.rules.shared_markets import SharedMarketSource
from tidewatch.rules.tick import TickSources, run_tick


def run_shard(
    message: ShardMessage,
    *,
    database: Database,
    sources: TickSources,
    runner: ActionRunner,
    caches: ShardRuleCaches,
    redis: RedisClient | None,
) -> dict[str, Any]:
    changed = list(message.changed_markets) if message.trigger == "market_changed" else None
    cache = caches.for_shard(message.shard, changed)
    shared = SharedMarketSource(redis, message.markets_key, sources.markets)
    report = run_tick(
        at=message.at,
        database=database,
        sources=TickSources(shared, sources.positions, sources.risk),
        runner=runner,
        changed_markets=changed,
        cache=cache,
        retry_unfinished=False,
    )
    return {"shard": message.shard.key, "markets_from": shared.served_from, **report.__dict__}
