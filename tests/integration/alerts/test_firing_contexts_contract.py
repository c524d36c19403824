"""The in-memory firing contexts (tests/fakes) answer as the Postgres query: the same rules,
prepared transactions and preferences give the same definition, transaction id and quiet hours,
None without the rule, and a transaction key PostgreSQL refuses is refused alike."""

from __future__ import annotations

import json
import math
import uuid
from datetime import time
from typing import Any, Protocol

import psycopg
import pytest

from tests.fakes.alerts import InMemoryFiringContexts
from tests.integration.alerts.conftest import insert_user
from tidewatch.alerts.repository import FiringContexts, PostgresFiringContexts
from tidewatch.db import Database

pytestmark = pytest.mark.integration

DEFINITION = {
    "trigger": {"type": "health_factor_below", "threshold": 1.10, "hysteresis": -0.0, "note": "caf\u00e9"},
    "actions": [{"type": "deliver", "severity": "critical", "destinations": [3, 1]}],
}
QUIET = {
    "timezone": "Europe/Berlin",
    "quiet_start": time(22, 0),
    "quiet_end": time(7, 0),
    "quiet_min_severity": "warning",
}
NO_PREFERENCES = dict.fromkeys(("timezone", "quiet_start", "quiet_end", "quiet_min_severity"))


class World(Protocol):
    contexts: FiringContexts

    def add_user(self) -> int: ...

    def add_rule(self, user_id: int, definition: dict[str, Any]) -> int: ...

    def delete_rule(self, rule_id: int) -> None: ...

    def add_transaction(self, user_id: int, key: str) -> str: ...

    def set_preferences(self, user_id: int, **columns: Any) -> None: ...


class PostgresWorld:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.contexts: FiringContexts = PostgresFiringContexts(db)
        self._users = 0

    def add_user(self) -> int:
        self._users += 1
        return insert_user(self.db, self._users)

    def add_rule(self, user_id: int, definition: dict[str, Any]) -> int:
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO rules (user_id, name, definition) VALUES (%s, 'r', %s::jsonb) RETURNING id",
                (user_id, json.dumps(definition)),
            ).fetchone()
        assert row
        return int(row["id"])

    def delete_rule(self, rule_id: int) -> None:
        with self.db.connection() as conn:
            conn.execute("DELETE FROM rules WHERE id = %s", (rule_id,))

    def add_transaction(self, user_id: int, key: str) -> str:
        transaction_id = uuid.uuid4()
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO transactions (id, user_id, chain_id, intent, txs, summary, idempotency_key) "
                "VALUES (%s, %s, 1, '{}'::jsonb, '[]'::jsonb, 'Repay 100 USDC', %s)",
                (transaction_id, user_id, key),
            )
        return str(transaction_id)

    def set_preferences(self, user_id: int, **columns: Any) -> None:
        names = ", ".join(columns)
        with self.db.connection() as conn:
            conn.execute(
                f"INSERT INTO alert_preferences (user_id, {names}) VALUES (%s{', %s' * len(columns)})",
                (user_id, *columns.values()),
            )


class MemoryWorld:
    def __init__(self) -> None:
        self.store = InMemoryFiringContexts()
        self.contexts: FiringContexts = self.store
        self._ids = 0

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def add_user(self) -> int:
        return self._id()

    def add_rule(self, user_id: int, definition: dict[str, Any]) -> int:
        rule_id = self._id()
        self.store.add_rule(rule_id, definition)
        return rule_id

    def delete_rule(self, rule_id: int) -> None:
        self.store.delete_rule(rule_id)

    def add_transaction(self, user_id: int, key: str) -> str:
        return self.store.add_transaction(user_id, key, uuid.uuid4())

    def set_preferences(self, user_id: int, **columns: Any) -> None:
        self.store.set_preferences(user_id, **columns)


@pytest.fixture(params=["postgres", "in-memory"])
def world(request: pytest.FixtureRequest) -> World:
    return PostgresWorld(request.getfixturevalue("db")) if request.param == "postgres" else MemoryWorld()


def test_the_context_holds_the_definition_the_prepared_transaction_and_quiet_hours(world: World) -> None:
    # Given a rule whose firing prepared a transaction, and its owner's quiet hours
    alice = world.add_user()
    rule_id = world.add_rule(alice, DEFINITION)
    key = f"rule:{rule_id}:60:1"
    transaction_id = world.add_transaction(alice, key)
    world.add_transaction(alice, f"rule:{rule_id}:60:2")
    world.set_preferences(alice, **QUIET)
    # When the firing's context is read
    context = world.contexts.firing_context(rule_id=rule_id, user_id=alice, transaction_key=key)
    # Then it has the definition as jsonb reads it back, that firing's transaction and the quiet hours
    assert context == {"definition": DEFINITION, "transaction_id": transaction_id, **QUIET}
    assert context is not None
    assert math.copysign(1.0, context["definition"]["trigger"]["hysteresis"]) == 1.0  # numeric has no -0
    assert transaction_id == transaction_id.lower()


def test_without_a_transaction_or_preferences_their_columns_are_none(world: World) -> None:
    # Given a rule without a prepared transaction, its owner without preferences
    alice = world.add_user()
    rule_id = world.add_rule(alice, DEFINITION)
    # Then the context has the definition and nothing else
    context = world.contexts.firing_context(rule_id=rule_id, user_id=alice, transaction_key=f"rule:{rule_id}:60:1")
    assert context == {"definition": DEFINITION, "transaction_id": None, **NO_PREFERENCES}
    # When the owner saves a time zone without quiet hours, Then the zone comes with the defaults
    world.set_preferences(alice, timezone="Asia/Tokyo")
    context = world.contexts.firing_context(rule_id=rule_id, user_id=alice, transaction_key=f"rule:{rule_id}:60:1")
    assert context == {
        "definition": DEFINITION,
        "transaction_id": None,
        "timezone": "Asia/Tokyo",
        "quiet_start": None,
        "quiet_end": None,
        "quiet_min_severity": "critical",
    }


def test_the_rule_is_found_by_id_alone_and_the_rest_is_the_asked_users(world: World) -> None:
    # Given Alice's rule with a prepared transaction and quiet hours, and Bob with his own
    # transaction under the same key and no preferences
    alice, bob = world.add_user(), world.add_user()
    rule_id = world.add_rule(alice, DEFINITION)
    key = f"rule:{rule_id}:60:1"
    world.add_transaction(alice, key)
    bobs = world.add_transaction(bob, key)
    world.set_preferences(alice, **QUIET)
    # When the context is read for Bob, Then Alice's rule comes with Bob's transaction and no quiet hours
    context = world.contexts.firing_context(rule_id=rule_id, user_id=bob, transaction_key=key)
    assert context == {"definition": DEFINITION, "transaction_id": bobs, **NO_PREFERENCES}


def test_without_the_rule_there_is_no_context(world: World) -> None:
    # Given a rule with a prepared transaction and its owner's quiet hours
    alice = world.add_user()
    rule_id = world.add_rule(alice, DEFINITION)
    key = f"rule:{rule_id}:60:1"
    world.add_transaction(alice, key)
    world.set_preferences(alice, **QUIET)
    # When the rule is deleted, Then the context is None: no transaction and no quiet hours either
    world.delete_rule(rule_id)
    assert world.contexts.firing_context(rule_id=rule_id, user_id=alice, transaction_key=key) is None
    assert world.contexts.firing_context(rule_id=rule_id + 100, user_id=alice, transaction_key=key) is None


def test_a_transaction_key_holding_nul_is_refused(world: World) -> None:
    # Given a rule
    alice = world.add_user()
    rule_id = world.add_rule(alice, DEFINITION)
    # When the context is read with NUL in the key, Then psycopg refuses it as text
    with pytest.raises(psycopg.Error) as raised:
        world.contexts.firing_context(rule_id=rule_id, user_id=alice, transaction_key="rule:1:\x00")
    assert type(raised.value) is psycopg.DataError
