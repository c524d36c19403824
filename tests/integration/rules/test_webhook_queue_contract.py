"""The in-memory webhook queue (tests/fakes) answers as the Postgres one: the same enqueues,
attempts and rule deletions over both read back the same deliveries, are due at the same times
in the same order, and the values PostgreSQL refuses are refused with the same errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
import pytest

from tests.fakes.rules import InMemoryWebhookQueue
from tests.integration.rules.seeds import seed_user
from tidewatch.db import Database
from tidewatch.rules.repository import PostgresRules, PostgresWebhookQueue, WebhookQueue

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FAR = datetime(2999, 1, 1, tzinfo=UTC)  # after every now() the fresh deliveries were enqueued at
URL = "https://hooks.example.com/tidewatch"
ROW_COLUMNS = ("rule_id", "status", "attempt", "response_code", "last_error", "next_attempt_at")


class World(Protocol):
    queue: WebhookQueue

    def add_rule(self) -> int: ...

    def delete_rule(self, rule_id: int) -> None:
        """Through the rules repository, as the owner deletes it."""
        ...

    def drop_rule(self, rule_id: int) -> None:
        """The rule row deleted past the repository."""
        ...

    def row(self, delivery_id: int) -> dict[str, Any]: ...


class PostgresWorld:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue: WebhookQueue = PostgresWebhookQueue(db)
        self.user_id, _ = seed_user(db)

    def add_rule(self) -> int:
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO rules (user_id, name, definition) VALUES (%s, 'hook', '{}'::jsonb) RETURNING id",
                (self.user_id,),
            ).fetchone()
        assert row
        return int(row["id"])

    def delete_rule(self, rule_id: int) -> None:
        with PostgresRules(self.db).transaction() as records:
            records.delete(self.user_id, rule_id)

    def drop_rule(self, rule_id: int) -> None:
        with self.db.connection() as conn:
            conn.execute("DELETE FROM rules WHERE id = %s", (rule_id,))

    def row(self, delivery_id: int) -> dict[str, Any]:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT rule_id, status, attempt, response_code, last_error, next_attempt_at "
                "FROM webhook_deliveries WHERE id = %s",
                (delivery_id,),
            ).fetchone()
        assert row
        return dict(row)


class MemoryWorld:
    def __init__(self) -> None:
        self.store = InMemoryWebhookQueue()
        self.queue: WebhookQueue = self.store
        self._rules = 0

    def add_rule(self) -> int:
        self._rules += 1
        self.store.add_rule(self._rules)
        return self._rules

    def delete_rule(self, rule_id: int) -> None:
        self.store.delete_rule(rule_id)

    def drop_rule(self, rule_id: int) -> None:
        self.store.drop_rule(rule_id)

    def row(self, delivery_id: int) -> dict[str, Any]:
        return {k: self.store.rows[delivery_id][k] for k in ROW_COLUMNS}


@pytest.fixture(params=["postgres", "in-memory"])
def world(request: pytest.FixtureRequest) -> World:
    return PostgresWorld(request.getfixturevalue("db")) if request.param == "postgres" else MemoryWorld()


def fail_once(queue: WebhookQueue, delivery_id: int, retry_at: datetime | None, *, attempt: int = 1) -> None:
    queue.record_delivery_attempt(
        delivery_id, attempt=attempt, status="pending", response_code=503, error="HTTP 503", next_attempt_at=retry_at
    )


def test_a_delivery_reads_back_with_its_body_as_jsonb_gives_it(world: World) -> None:
    # Given a rule
    rule_id = world.add_rule()
    # When a payload with unsorted keys, exponents, negative zero, escapes and a repeated key is enqueued
    payload = '{"zz":1e-07,"b":[1.50,-0,2E+2],"a":"caf\\u00e9 \\ud83d\\ude00\\n\\u0001","é":null,"b":true}'
    delivery_id = world.queue.enqueue_delivery(rule_id, URL, payload)
    # Then it reads back with the body as jsonb renders it, no attempt made yet
    assert world.queue.delivery(delivery_id) == {
        "id": delivery_id,
        "rule_id": rule_id,
        "url": URL,
        "body": '{"a": "café 😀\\n\\u0001", "b": true, "zz": 0.0000001, "é": null}',
        "attempt": 0,
    }
    assert world.row(delivery_id)["status"] == "pending"
    # And the compact JSON the sender writes comes back spaced, keys ordered by length first
    compact = json.dumps({"rule_id": rule_id, "event": "rule.fired", "observed": {"v": 0.25}}, separators=(",", ":"))
    second = world.queue.enqueue_delivery(rule_id, URL, compact)
    assert (world.queue.delivery(second) or {})["body"] == (
        f'{{"event": "rule.fired", "rule_id": {rule_id}, "observed": {{"v": 0.25}}}}'
    )
    # And an unknown id reads as nothing
    assert world.queue.delivery(second + 100) is None


def test_only_attempted_pending_deliveries_past_their_time_are_due_longest_waiting_first(world: World) -> None:
    # Given five deliveries of one rule: never attempted, two waiting for retries, one delivered,
    # one pending without a retry time
    rule_id = world.add_rule()
    fresh, later, sooner, delivered, timeless = (world.queue.enqueue_delivery(rule_id, URL, "{}") for _ in range(5))
    fail_once(world.queue, later, AT + timedelta(seconds=60))
    fail_once(world.queue, sooner, AT + timedelta(seconds=30), attempt=2)
    world.queue.record_delivery_attempt(
        delivered, attempt=1, status="delivered", response_code=200, error=None, next_attempt_at=None
    )
    fail_once(world.queue, timeless, None)
    # Then nothing is due before the first backoff ends, and a fresh delivery is never due
    assert world.queue.due_deliveries(AT + timedelta(seconds=29), 10) == []
    assert world.queue.due_deliveries(AT + timedelta(seconds=30), 10) == [sooner]
    # And both are due once both backoffs ended, longest waiting first, at most `limit`; the
    # fresh delivery never is, however late
    assert world.queue.due_deliveries(FAR, 10) == [sooner, later]
    assert world.queue.due_deliveries(FAR, 1) == [sooner]
    assert world.queue.due_deliveries(FAR, 0) == []
    # And the recorded attempt is what the delivery and its row show
    assert (world.queue.delivery(sooner) or {})["attempt"] == 2
    assert world.row(sooner) == {
        "rule_id": rule_id,
        "status": "pending",
        "attempt": 2,
        "response_code": 503,
        "last_error": "HTTP 503",
        "next_attempt_at": AT + timedelta(seconds=30),
    }
    assert world.row(fresh)["attempt"] == 0
    # When an attempt is recorded for an id that does not exist, Then nothing changes
    fail_once(world.queue, timeless + 100, AT)
    assert world.queue.due_deliveries(FAR, 10) == [sooner, later]


def test_deleting_a_rule_cancels_its_pending_deliveries_and_unlinks_the_others(world: World) -> None:
    # Given a rule with a waiting retry and a delivered delivery, and another rule with a waiting retry
    rule, other = world.add_rule(), world.add_rule()
    waiting, done, theirs = (world.queue.enqueue_delivery(r, URL, "{}") for r in (rule, rule, other))
    fail_once(world.queue, waiting, AT)
    world.queue.record_delivery_attempt(
        done, attempt=1, status="delivered", response_code=204, error=None, next_attempt_at=None
    )
    fail_once(world.queue, theirs, AT)
    # When the owner deletes the first rule
    world.delete_rule(rule)
    # Then its waiting retry is cancelled and no longer due, and both its deliveries lose the rule
    assert world.row(waiting) == {
        "rule_id": None,
        "status": "failed",
        "attempt": 1,
        "response_code": 503,
        "last_error": "cancelled: the rule was deleted",
        "next_attempt_at": None,
    }
    assert world.row(done)["rule_id"] is None
    assert world.row(done)["status"] == "delivered"
    assert world.queue.due_deliveries(AT, 10) == [theirs]
    # When the other rule's row is deleted past the repository
    world.drop_rule(other)
    # Then its retry stays due, without a rule (the sender cancels it on its next attempt)
    assert world.queue.due_deliveries(AT, 10) == [theirs]
    assert (world.queue.delivery(theirs) or {})["rule_id"] is None
    assert world.row(theirs)["status"] == "pending"


Refusal = Callable[[WebhookQueue, int, int], object]

REFUSALS: list[tuple[str, Refusal, type[Exception]]] = [
    ("NUL in the URL", lambda q, r, d: q.enqueue_delivery(r, "https://x.example/\x00", "{}"), psycopg.DataError),
    (
        "\\u0000 in the payload",
        lambda q, r, d: q.enqueue_delivery(r, URL, '{"name": "a\\u0000b"}'),
        psycopg.errors.UntranslatableCharacter,
    ),
    (
        "NaN in the payload",
        lambda q, r, d: q.enqueue_delivery(r, URL, json.dumps({"value": float("nan")})),
        psycopg.errors.InvalidTextRepresentation,
    ),
    (
        "a lone surrogate in the payload",
        lambda q, r, d: q.enqueue_delivery(r, URL, '{"name": "\\ud83d"}'),
        psycopg.errors.InvalidTextRepresentation,
    ),
    (
        "a rule that does not exist",
        lambda q, r, d: q.enqueue_delivery(r + 1000, URL, "{}"),
        psycopg.errors.ForeignKeyViolation,
    ),
    (
        "a status outside the check",
        lambda q, r, d: q.record_delivery_attempt(
            d, attempt=1, status="sent", response_code=200, error=None, next_attempt_at=None
        ),
        psycopg.errors.CheckViolation,
    ),
    (
        "NUL in the error",
        lambda q, r, d: q.record_delivery_attempt(
            d, attempt=1, status="pending", response_code=None, error="reset\x00", next_attempt_at=AT
        ),
        psycopg.DataError,
    ),
    (
        "an attempt beyond integer",
        lambda q, r, d: q.record_delivery_attempt(
            d + 100, attempt=2**31, status="pending", response_code=None, error=None, next_attempt_at=AT
        ),
        psycopg.errors.NumericValueOutOfRange,
    ),
    ("a negative limit", lambda q, r, d: q.due_deliveries(AT, -1), psycopg.errors.InvalidRowCountInLimitClause),
]


@pytest.mark.parametrize(("refusal", "error"), [(r, e) for _, r, e in REFUSALS], ids=[n for n, _, _ in REFUSALS])
def test_values_postgres_refuses_are_refused_with_its_error(
    world: World, refusal: Refusal, error: type[Exception]
) -> None:
    # Given a rule with one delivery
    rule_id = world.add_rule()
    delivery_id = world.queue.enqueue_delivery(rule_id, URL, "{}")
    # When a value PostgreSQL refuses is written, Then the same error is raised
    with pytest.raises(psycopg.Error) as raised:
        refusal(world.queue, rule_id, delivery_id)
    assert type(raised.value) is error
    # And the delivery is as it was
    assert world.queue.delivery(delivery_id) == {
        "id": delivery_id,
        "rule_id": rule_id,
        "url": URL,
        "body": "{}",
        "attempt": 0,
    }


def test_a_refused_foreign_key_uses_up_an_id_and_a_refused_payload_does_not(world: World) -> None:
    # Given a rule with one delivery
    rule_id = world.add_rule()
    first = world.queue.enqueue_delivery(rule_id, URL, "{}")
    # When an enqueue is refused for its payload, Then the next delivery takes the next id
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        world.queue.enqueue_delivery(rule_id, URL, "{")
    second = world.queue.enqueue_delivery(rule_id, URL, "{}")
    assert second == first + 1
    # When an enqueue is refused for its rule, Then an id was drawn for it
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        world.queue.enqueue_delivery(rule_id + 1000, URL, "{}")
    assert world.queue.enqueue_delivery(rule_id, URL, "{}") == second + 2
