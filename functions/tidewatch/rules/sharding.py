"""Splitting a rules tick into shards: which rules each shard evaluates, and the message it gets.

Every rule sits in one of `BUCKETS` buckets, a stable hash of its owner's id computed by
PostgreSQL (`rules.shard_bucket`), so all of one user's rules land in the same shard and a
shard's rules are one indexed range scan. The coordinator counts enabled rules per bucket and
packs consecutive buckets into shards of at most `max_rules` rules; a single bucket larger than
that is split further by rule-id ranges, so no shard is ever larger than its budget (an oversized
shard is split, never left to time out).

Shards are disjoint and together cover every bucket, so each rule is evaluated by exactly one
shard per tick. A duplicated or retried shard message evaluates the same rules in the same
evaluation window, and the (rule, window) claim lets only one firing through.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

BUCKETS = 1024
MAX_RULE_ID = 2**63 - 1


class ShardRange(BaseModel):
    """The rules of buckets `bucket_lo..bucket_hi` (inclusive) whose ids lie in `id_lo..id_hi`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket_lo: int = Field(ge=0, lt=BUCKETS)
    bucket_hi: int = Field(ge=0, lt=BUCKETS)
    id_lo: int = Field(default=0, ge=0, le=MAX_RULE_ID)
    id_hi: int = Field(default=MAX_RULE_ID, ge=0, le=MAX_RULE_ID)

    @model_validator(mode="after")
    def _ordered(self) -> ShardRange:
        if self.bucket_lo > self.bucket_hi or self.id_lo > self.id_hi:
            raise ValueError("a shard range must not be empty")
        if self.bucket_lo != self.bucket_hi and (self.id_lo, self.id_hi) != (0, MAX_RULE_ID):
            raise ValueError("an id range is only allowed within one bucket")
        return self

    def contains(self, bucket: int, rule_id: int) -> bool:
        return self.bucket_lo <= bucket <= self.bucket_hi and self.id_lo <= rule_id <= self.id_hi

    @property
    def key(self) -> str:
        """A short stable name, for logs, metrics and message deduplication."""
        if (self.id_lo, self.id_hi) == (0, MAX_RULE_ID):
            return f"b{self.bucket_lo}-{self.bucket_hi}"
        return f"b{self.bucket_lo}:{self.id_lo}-{self.id_hi}"


ALL_RULES = ShardRange(bucket_lo=0, bucket_hi=BUCKETS - 1)


class ShardMessage(BaseModel):
    """What one shard invocation is asked to do (an SQS message body, or an inline call)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rules.shard"] = "rules.shard"
    tick_id: str = Field(min_length=1, max_length=200, description="The coordinating event's id.")
    trigger: Literal["schedule", "market_changed"]
    at: datetime = Field(description="The evaluation time: fixes every rule's evaluation window.")
    shard: ShardRange
    changed_markets: tuple[int, ...] = Field(default=(), max_length=1000)
    markets_key: str | None = Field(
        default=None, max_length=200, description="Where the coordinator left the tick's market snapshot."
    )
    expected_rules: int = Field(default=0, ge=0, description="Rules the coordinator counted in this shard.")


# (bucket, parts) -> ascending rule ids that cut the bucket's enabled rules into `parts` ranges.
IdSplitter = Callable[[int, int], Sequence[int]]


def plan_shards(counts: Mapping[int, int], *, max_rules: int, split_bucket: IdSplitter) -> list[tuple[ShardRange, int]]:
    """Pack buckets with rules into consecutive shards of at most `max_rules` rules each.

    `counts` maps bucket → enabled rules in it (buckets without rules may be absent). Returns each
    shard with the number of rules counted in it, in bucket order. A rule created after the count
    in a bucket no shard covers is evaluated by the next tick, as if it had been created after it.
    """
    if max_rules < 1:
        raise ValueError("max_rules must be at least 1")
    plan: list[tuple[ShardRange, int]] = []
    first = last = -1
    filled = 0

    def close() -> None:
        nonlocal first, filled
        if filled:
            plan.append((ShardRange(bucket_lo=first, bucket_hi=last), filled))
        first, filled = -1, 0

    for bucket, n in sorted((b, n) for b, n in counts.items() if n > 0):
        if n > max_rules:
            close()
            parts = -(-n // max_rules)
            bounds = [0, *sorted(set(split_bucket(bucket, parts))), MAX_RULE_ID + 1]
            ranges = [(lo, hi - 1) for lo, hi in itertools.pairwise(bounds) if lo < hi]
            share = -(-n // len(ranges))
            plan.extend(
                (ShardRange(bucket_lo=bucket, bucket_hi=bucket, id_lo=lo, id_hi=hi), share) for lo, hi in ranges
            )
            continue
        if filled + n > max_rules:
            close()
        if first < 0:
            first = bucket
        last = bucket
        filled += n
    close()
    return plan
