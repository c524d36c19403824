"""The coordinator's counts and cuts over the `ShardCountsRepository` port (in-memory fake)."""

from __future__ import annotations

from tests.fakes.rules import InMemoryShardCounts, ShardRow
from tidewatch.rules.shard_store import bucket_counts, split_points
from tidewatch.rules.sharding import plan_shards


def _rows() -> list[ShardRow]:
    # Bucket 3 holds 10 rules watching market 1, bucket 7 two rules (one disabled), bucket 9 one
    # price rule.
    rows = [ShardRow(rule_id=i, bucket=3, watched_markets=frozenset({1})) for i in range(1, 11)]
    rows += [ShardRow(rule_id=20, bucket=7, watched_markets=frozenset({2}))]
    rows += [ShardRow(rule_id=21, bucket=7, enabled=False, watched_markets=frozenset({2}))]
    rows += [ShardRow(rule_id=30, bucket=9, watches_prices=True)]
    return rows


def test_counts_leave_out_disabled_rules_and_rules_not_watching_the_markets() -> None:
    # Given rules in three buckets
    counts = InMemoryShardCounts(_rows())
    # Then a schedule counts every enabled rule, a market event only those watching it or prices
    assert bucket_counts(counts) == {3: 10, 7: 1, 9: 1}
    assert bucket_counts(counts, [2]) == {7: 1, 9: 1}
    assert bucket_counts(counts, [5]) == {9: 1}


def test_an_oversized_bucket_is_cut_into_ranges_that_cover_it_once() -> None:
    # Given a bucket of 10 rules and shards of at most 4
    counts = InMemoryShardCounts(_rows())
    # When the coordinator plans
    plan = plan_shards(bucket_counts(counts), max_rules=4, split_bucket=lambda b, p: split_points(counts, b, p))
    # Then the bucket is cut by id into three ranges, each rule of it in exactly one
    cut = [shard for shard, _ in plan if shard.bucket_lo == shard.bucket_hi == 3]
    assert len(cut) == 3
    for rule_id in range(1, 11):
        assert sum(shard.contains(3, rule_id) for shard in cut) == 1
    assert split_points(counts, 3, 1) == []
    assert split_points(counts, 4, 3) == []
