"""The coordinator's view of the rules: enabled rules per bucket, and cut points inside a bucket.

Both are index scans over `rules_shard_cover_idx` (migration 0800) / `rules_watched_markets_idx`
(migration 0780), so counting a million rules costs one aggregate query, not a load. They read
over the `ShardCountsRepository` port of `tidewatch.rules.repository` (a `Database` is wrapped in
its Postgres adapter, as D43).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from tidewatch.db import Database
from tidewatch.rules import repository
from tidewatch.rules.repository import ShardCountsRepository
from tidewatch.rules.sharding import ShardRange
from tidewatch.rules.store import RuleCache


def _markets(changed_markets: Sequence[int] | None) -> list[int] | None:
    return sorted({int(m) for m in changed_markets}) if changed_markets is not None else None


def bucket_counts(
    counts: ShardCountsRepository | Database, changed_markets: Sequence[int] | None = None
) -> dict[int, int]:
    """Enabled rules per bucket; for a market event only the rules that watch those markets or prices."""
    with repository.shard_counts(counts).session() as records:
        return records.bucket_counts(_markets(changed_markets))


def split_points(
    counts: ShardCountsRepository | Database, bucket: int, parts: int, changed_markets: Sequence[int] | None = None
) -> list[int]:
    """Rule ids that cut one bucket's enabled rules into `parts` ranges of about equal size."""
    if parts < 2:
        return []
    fractions = [k / parts for k in range(1, parts)]
    with repository.shard_counts(counts).session() as records:
        cuts = records.bucket_cuts(bucket, fractions, _markets(changed_markets))
    return sorted(set(cuts))


class ShardRuleCaches:
    """One `RuleCache` per (shard, market filter) a warm container has served, least recent dropped."""

    def __init__(self, capacity: int = 8) -> None:
        self._capacity = capacity
        self._caches: OrderedDict[tuple[str, tuple[int, ...] | None], RuleCache] = OrderedDict()

    def for_shard(self, shard: ShardRange, changed_markets: Sequence[int] | None = None) -> RuleCache:
        markets = _markets(changed_markets)
        key = (shard.key, tuple(markets) if markets is not None else None)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = RuleCache(shard, markets)
            while len(self._caches) > self._capacity:
                self._caches.popitem(last=False)
        else:
            self._caches.move_to_end(key)
        return cache
