"""Planning shards: bounded size, disjoint ranges, every counted rule in exactly one shard."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from tidewatch.rules.sharding import BUCKETS, MAX_RULE_ID, ShardMessage, ShardRange, plan_shards


def no_split(bucket: int, parts: int) -> Sequence[int]:
    raise AssertionError("no bucket should need splitting")


def test_small_tick_is_one_shard() -> None:
    # Given 30 rules spread over three buckets and a budget of 100 per shard
    plan = plan_shards({3: 10, 500: 10, 1000: 10}, max_rules=100, split_bucket=no_split)
    # Then one shard covers them all
    assert plan == [(ShardRange(bucket_lo=3, bucket_hi=1000), 30)]


def test_buckets_are_packed_without_exceeding_the_budget() -> None:
    # Given 1,024 buckets of 1,000 rules (about a million rules) and 100,000 rules per shard
    counts = dict.fromkeys(range(BUCKETS), 1_000)
    # When the tick is planned
    plan = plan_shards(counts, max_rules=100_000, split_bucket=no_split)
    # Then no shard is over budget, they are in bucket order and do not overlap, and all rules are planned
    assert all(n <= 100_000 for _, n in plan)
    assert len(plan) == 11
    assert sum(n for _, n in plan) == 1_024_000
    for (a, _), (b, _) in itertools.pairwise(plan):
        assert a.bucket_hi < b.bucket_lo


def test_an_oversized_bucket_is_split_by_rule_id_not_left_to_time_out() -> None:
    # Given one bucket holding 250 rules (ids 1..250) with a budget of 100 per shard
    asked: list[tuple[int, int]] = []

    def split(bucket: int, parts: int) -> Sequence[int]:
        asked.append((bucket, parts))
        return [84, 167]

    plan = plan_shards({7: 250, 9: 5}, max_rules=100, split_bucket=split)
    # Then the bucket is cut in three id ranges that together cover every id, and bucket 9 stays whole
    assert asked == [(7, 3)]
    ranges = [shard for shard, _ in plan]
    assert ranges[:3] == [
        ShardRange(bucket_lo=7, bucket_hi=7, id_lo=0, id_hi=83),
        ShardRange(bucket_lo=7, bucket_hi=7, id_lo=84, id_hi=166),
        ShardRange(bucket_lo=7, bucket_hi=7, id_lo=167, id_hi=MAX_RULE_ID),
    ]
    assert ranges[3] == ShardRange(bucket_lo=9, bucket_hi=9)
    assert all(n <= 100 for _, n in plan)


def test_every_rule_belongs_to_exactly_one_shard_for_random_plans() -> None:
    rng = random.Random(7)
    for _ in range(200):
        # Given random bucket occupancy and budget
        counts = {b: rng.randint(0, 50) for b in rng.sample(range(BUCKETS), rng.randint(1, 40))}
        budget = rng.randint(50, 200)  # no bucket over budget: nothing to split
        plan = plan_shards(counts, max_rules=budget, split_bucket=lambda b, p: [])
        # Then each occupied bucket lies in exactly one shard and no shard is over budget
        for bucket, n in counts.items():
            if n:
                assert sum(1 for shard, _ in plan if shard.contains(bucket, 1)) == 1
        assert all(n <= budget for _, n in plan)


def test_empty_tick_has_no_shards() -> None:
    assert plan_shards({}, max_rules=10, split_bucket=no_split) == []
    assert plan_shards({4: 0}, max_rules=10, split_bucket=no_split) == []


def test_ranges_and_messages_refuse_what_cannot_be_a_shard() -> None:
    with pytest.raises(ValidationError):
        ShardRange(bucket_lo=5, bucket_hi=4)
    with pytest.raises(ValidationError):
        ShardRange(bucket_lo=0, bucket_hi=BUCKETS)
    with pytest.raises(ValidationError):  # id ranges only inside a single bucket
        ShardRange(bucket_lo=1, bucket_hi=2, id_lo=10, id_hi=20)
    with pytest.raises(ValidationError):
        ShardMessage.model_validate(
            {
                "tick_id": "t",
                "trigger": "schedule",
                "at": "2026-12-01T00:00:00Z",
                "shard": {"bucket_lo": 0, "bucket_hi": 1},
                "extra": 1,
            }
        )
