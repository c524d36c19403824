"""Sharded rules ticks against real PostgreSQL (and Redis): coverage, idempotency, failure isolation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import redis
from moto import mock_aws

from rules import logic
from rules.deps import RulesDeps, build_deps, with_dispatcher
from rules.handler import shard_handler
from tidewatch.db import Database
from tidewatch.events import ScheduledEvent
from tidewatch.invoke import lambda_context
from tidewatch.rules.settings import RulesSettings
from tidewatch.rules.shard_dispatch import InlineShardDispatcher, SqsShardDispatcher
from tidewatch.rules.shard_store import bucket_counts, split_points
from tidewatch.rules.sharding import ShardMessage, ShardRange, plan_shards
from tidewatch.rules.snapshot import MarketState, PriceWindow
from tidewatch.rules.tick import TickSources

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class FakeMarkets:
    """Markets 1-3 at 6 % supply APY; counts how often the markets were read."""

    def __init__(self) -> None:
        self.calls = 0

    def latest_markets(self) -> Sequence[MarketState]:
        self.calls += 1
        return [MarketState(m, 0.06, 0.07) for m in (1, 2, 3)]

    def price_changes(self, windows: Sequence[PriceWindow], at: datetime) -> Mapping[PriceWindow, float]:
        return {}


def seed_rules(db: Database, users: int = 120, per_user: int = 3) -> list[int]:
    """`users` users with `per_user` market-APY rules each (market 1 + user id % 3), all firing at 6 %."""
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO users (address) SELECT '0x' || lpad(to_hex(g), 40, '0') FROM generate_series(1, %s) g",
            (users,),
        )
        rows = conn.execute(
            """
            INSERT INTO rules (user_id, name, definition)
            SELECT u.id, 'r' || k, jsonb_build_object(
                'trigger', jsonb_build_object('type', 'market_apy', 'market_id', 1 + u.id %% 3, 'side', 'supply',
                                              'op', 'above', 'threshold', 0.05, 'hysteresis', 0.0),
                'conditions', NULL,
                'actions', '[{"type": "notify", "title": null, "severity": "warning"}]'::jsonb)
            FROM users u CROSS JOIN generate_series(1, %s) k
            RETURNING id
            """,
            (per_user,),
        ).fetchall()
    return [int(r["id"]) for r in rows]


def deps_for(db: Database, *, max_rules: int = 50, redis_client: redis.Redis | None = None) -> RulesDeps:
    """The rules function's collaborators over fake markets, shards run in-process on four threads."""
    settings = RulesSettings(shard_max_rules=max_rules, shard_workers=4)
    built = build_deps(db, settings=settings, broadcaster=None, redis=redis_client)
    deps = dataclasses.replace(built, sources=TickSources(FakeMarkets()))
    return with_dispatcher(deps, InlineShardDispatcher(lambda m: logic.evaluate_shard(m, deps=deps), max_workers=4))


def scheduled(at: datetime = AT, event_id: str = "tick-1") -> ScheduledEvent:
    return ScheduledEvent.model_validate(
        {"id": event_id, "detail-type": "Scheduled Event", "source": "aws.events", "time": at.isoformat(), "detail": {}}
    )


def fired_rule_ids(db: Database) -> list[int]:
    with db.connection() as conn:
        return [int(r["rule_id"]) for r in conn.execute("SELECT rule_id FROM rule_executions WHERE fired")]


def test_shards_partition_the_rules_and_never_load_another_shards_rules(db: Database) -> None:
    # Given 360 enabled rules of 120 users and a budget of 50 rules per shard
    ids = seed_rules(db)
    counts = bucket_counts(db)
    plan = plan_shards(counts, max_rules=50, split_bucket=lambda b, p: split_points(db, b, p))
    # When every shard loads its rules
    deps = deps_for(db)
    loaded: list[set[int]] = []
    with db.connection() as conn:
        bucket_of = {int(r["id"]): int(r["shard_bucket"]) for r in conn.execute("SELECT id, shard_bucket FROM rules")}
    for shard, n in plan:
        rules = deps.shard_caches.for_shard(shard).load(db)
        got = set(rules.rule_id.tolist())
        # Then each shard holds only rules of its own range, as many as were counted, within budget
        assert all(shard.contains(bucket_of[r], r) for r in got)
        assert len(got) == n <= 50
        loaded.append(got)
    # And together the shards hold every rule exactly once
    assert sorted(r for s in loaded for r in s) == sorted(ids)
    assert len(plan) >= 360 // 50


def test_a_sharded_tick_fires_every_rule_once_and_a_duplicated_tick_fires_nothing(db: Database) -> None:
    # Given 360 firing rules sharded 50 at a time
    ids = seed_rules(db)
    deps = deps_for(db)
    # When the scheduled event is handled, then delivered again
    first = logic.evaluate_scheduled(scheduled(), deps=deps)
    again = logic.evaluate_scheduled(scheduled(), deps=deps)
    # Then every rule fired exactly once, over several shards, and the redelivery fired nothing
    assert first["shards"] >= 8
    assert first["fired"] == 360
    assert first["failed_shards"] == []
    assert again["fired"] == 0
    assert again["duplicates"] == 0
    assert sorted(fired_rule_ids(db)) == sorted(ids)


def test_a_duplicated_shard_message_fires_nothing_twice(db: Database) -> None:
    # Given one shard message covering every bucket
    seed_rules(db, users=10)
    deps = deps_for(db, max_rules=1000)
    message = ShardMessage(tick_id="t", trigger="schedule", at=AT, shard=ShardRange(bucket_lo=0, bucket_hi=1023))
    # When it is delivered twice (and rules re-armed in between, as if the second came from a retry)
    first = logic.evaluate_shard(message, deps=deps)
    with db.connection() as conn:
        conn.execute("UPDATE rules SET armed = true, last_fired_at = NULL")
    second = logic.evaluate_shard(message, deps=deps)
    # Then the first fired all 30 rules and the second was refused by the (rule, window) claims
    assert (first["fired"], second["fired"], second["duplicates"]) == (30, 0, 30)
    assert len(fired_rule_ids(db)) == 30


def test_a_failing_shard_is_retried_and_never_blocks_the_others(db: Database) -> None:
    seed_rules(db)
    deps = deps_for(db)
    calls: dict[str, int] = {}

    def flaky(message: ShardMessage) -> dict[str, Any]:
        # Given the first shard fails once and the second fails every time
        key = message.shard.key
        calls[key] = calls.get(key, 0) + 1
        if key == order[0] and calls[key] == 1:
            raise ConnectionError("database connection reset")
        if key == order[1]:
            raise RuntimeError("this shard always fails")
        return logic.evaluate_shard(message, deps=deps)

    plan = plan_shards(bucket_counts(db), max_rules=50, split_bucket=lambda b, p: split_points(db, b, p))
    order = [shard.key for shard, _ in plan]
    lost = plan[1][1]
    # When the tick runs
    report = logic.evaluate_scheduled(scheduled(), deps=with_dispatcher(deps, InlineShardDispatcher(flaky, attempts=2)))
    # Then the first shard succeeded on its retry, the second is reported failed after two tries,
    # and every other shard's rules fired
    assert calls[order[0]] == 2
    assert calls[order[1]] == 2
    assert report["failed_shards"] == [order[1]]
    assert report["fired"] == 360 - lost


def test_an_oversized_bucket_is_split_into_shards_within_budget_and_each_rule_fires_once(db: Database) -> None:
    # Given one user (one bucket) with 130 firing rules and a budget of 50 rules per shard
    seed_rules(db, users=1, per_user=130)
    seen: list[ShardMessage] = []
    deps = deps_for(db)

    def recording(message: ShardMessage) -> dict[str, Any]:
        seen.append(message)
        return logic.evaluate_shard(message, deps=deps)

    split = with_dispatcher(deps, InlineShardDispatcher(recording, max_workers=4))
    # When the scheduled tick runs, and runs again
    first = logic.evaluate_scheduled(scheduled(), deps=split)
    again = logic.evaluate_scheduled(scheduled(), deps=split)
    # Then the bucket went out as id ranges of one bucket, none evaluating more than its budget
    ranges = {m.shard for m in seen}
    assert len(ranges) == 3
    assert all(r.bucket_lo == r.bucket_hi for r in ranges)
    sizes = [len(deps.shard_caches.for_shard(r).load(db)) for r in sorted(ranges, key=lambda r: r.id_lo)]
    assert sum(sizes) == 130
    assert max(sizes) <= 50
    # And every rule fired exactly once, the second tick firing nothing
    assert (first["shards"], first["fired"], first["failed_shards"]) == (3, 130, [])
    assert again["fired"] == 0
    assert len(fired_rule_ids(db)) == 130


def test_market_event_reaches_only_the_shards_whose_rules_watch_that_market(db: Database) -> None:
    # Given rules on markets 1, 2 and 3 (one user in three per market)
    seed_rules(db)
    seen: list[ShardMessage] = []
    deps = deps_for(db)

    def record(message: ShardMessage) -> dict[str, Any]:
        seen.append(message)
        return logic.evaluate_shard(message, deps=deps)

    deps = with_dispatcher(deps, InlineShardDispatcher(record))
    event = {
        "id": "ev-2",
        "detail-type": "market.changed",
        "source": "tidewatch.ingest",
        "time": AT.isoformat(),
        "detail": {
            "market_id": 2,
            "chain_id": 1,
            "protocol": "aave-v3",
            "market_key": "0x" + "2" * 40,
            "asset_symbol": "USDC",
            "block_number": 1,
            "observed_at": AT.isoformat(),
            "supply_apy": 0.06,
            "borrow_apy": 0.07,
        },
    }
    from tidewatch.events import MarketChangedEvent

    report = logic.evaluate_market_changed(MarketChangedEvent.model_validate(event), deps=deps)
    # Then only the 120 rules of market 2 were counted and fired, in fewer shards than the whole tick
    assert report["counted_rules"] == 120
    assert report["fired"] == 120
    assert all(m.changed_markets == (2,) for m in seen)
    with db.connection() as conn:
        markets = {
            r["m"]
            for r in conn.execute(
                "SELECT DISTINCT (r.definition->'trigger'->>'market_id')::int AS m FROM rule_executions e "
                "JOIN rules r ON r.id = e.rule_id"
            )
        }
    assert markets == {2}


def test_shards_share_one_market_snapshot_through_redis(db: Database, redis_client: redis.Redis) -> None:
    # Given 360 rules in about eight shards and Redis for the shared snapshot
    seed_rules(db)
    deps = deps_for(db, redis_client=redis_client)
    markets = deps.sources.markets
    assert isinstance(markets, FakeMarkets)
    # When the tick runs
    report = logic.evaluate_scheduled(scheduled(), deps=deps)
    # Then the markets were read once (by the coordinator), not once per shard
    assert report["shards"] >= 8
    assert report["fired"] == 360
    assert markets.calls == 1


def test_shard_handler_reports_only_the_failed_record_for_redelivery(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_rules(db, users=5)
    deps = deps_for(db, max_rules=1000)
    monkeypatch.setattr("rules.handler.production_deps", lambda: deps)
    good = ShardMessage(tick_id="t", trigger="schedule", at=AT, shard=ShardRange(bucket_lo=0, bucket_hi=1023))
    # Given an SQS batch with one valid shard message and one that is not a shard message
    event = {
        "Records": [
            {
                "messageId": "m-good",
                "receiptHandle": "r1",
                "body": good.model_dump_json(),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:x",
                "awsRegion": "us-east-1",
            },
            {
                "messageId": "m-bad",
                "receiptHandle": "r2",
                "body": json.dumps({"kind": "rules.shard"}),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:x",
                "awsRegion": "us-east-1",
            },
        ]
    }
    # When the shard handler runs the batch
    answer = shard_handler(event, lambda_context("rules-shard"))
    # Then only the bad record comes back for redelivery (and so, in the end, to the dead-letter queue)
    assert answer["batchItemFailures"] == [{"itemIdentifier": "m-bad"}]
    assert answer["reports"][0]["fired"] == 15


def test_sqs_dispatcher_sends_one_message_per_shard_in_batches_of_ten() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="tidewatch-test-rule-shards")["QueueUrl"]
        messages = [
            ShardMessage(
                tick_id="t", trigger="schedule", at=AT + timedelta(0), shard=ShardRange(bucket_lo=i, bucket_hi=i)
            )
            for i in range(23)
        ]
        # When 23 shard messages are dispatched
        outcome = SqsShardDispatcher(url, client=sqs).dispatch(messages)
        # Then 23 messages wait in the queue, each a valid shard message
        bodies: list[str] = []
        while len(bodies) < 23:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            assert got
            bodies += [m["Body"] for m in got]
        assert outcome.queued == 23
        assert sorted(ShardMessage.model_validate_json(b).shard.bucket_lo for b in bodies) == list(range(23))
