"""The in-memory outbox (tests/fakes) answers as the Postgres one: the same enqueues over both
select the same destinations, hold the same rows for quiet hours, and name the same rows again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any, Protocol

import pytest

from tests.fakes.alerts import InMemoryOutbox
from tests.integration.alerts.conftest import insert_user
from tidewatch.alerts.messages import AlertMessage
from tidewatch.alerts.outbox import Outbox
from tidewatch.alerts.repository import OutboxRepository, PostgresOutbox
from tidewatch.db import Database

pytestmark = pytest.mark.integration

LATE = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 23:30 in Berlin


class World(Protocol):
    repository: OutboxRepository

    def add_user(self) -> int: ...

    def add_destination(self, user_id: int, **columns: Any) -> int: ...

    def set_quiet_hours(self, user_id: int) -> None: ...

    def deliver(self, delivery_id: int) -> None: ...

    def row(self, delivery_id: int) -> tuple[int, datetime, str | None]: ...


class PostgresWorld:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.repository: OutboxRepository = PostgresOutbox(db)
        self._users = 0

    def add_user(self) -> int:
        self._users += 1
        return insert_user(self.db, self._users)

    def add_destination(self, user_id: int, **columns: Any) -> int:
        values = {"is_default": True, "verified_at": LATE, "unsubscribed_at": None, "disabled_reason": None} | columns
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO alert_destinations (user_id, kind, label, target, secret, is_default, verified_at, "
                "unsubscribed_at, disabled_reason) VALUES (%s, 'slack', 'slack', %s, '{}'::jsonb, %s, %s, %s, %s) "
                "RETURNING id",
                (
                    user_id,
                    f"https://hooks.example/{user_id}/{len(columns)}/{json.dumps(columns, default=str)}",
                    values["is_default"],
                    values["verified_at"],
                    values["unsubscribed_at"],
                    values["disabled_reason"],
                ),
            ).fetchone()
        assert row
        return int(row["id"])

    def set_quiet_hours(self, user_id: int) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO alert_preferences (user_id, timezone, quiet_start, quiet_end, quiet_min_severity) "
                "VALUES (%s, 'Europe/Berlin', '22:00', '07:00', 'critical')",
                (user_id,),
            )

    def deliver(self, delivery_id: int) -> None:
        with self.db.connection() as conn:
            conn.execute("UPDATE alert_deliveries SET status = 'delivered' WHERE id = %s", (delivery_id,))

    def row(self, delivery_id: int) -> tuple[int, datetime, str | None]:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT destination_id, next_attempt_at, last_error FROM alert_deliveries WHERE id = %s",
                (delivery_id,),
            ).fetchone()
        assert row
        return int(row["destination_id"]), row["next_attempt_at"], row["last_error"]


class MemoryWorld:
    def __init__(self) -> None:
        self.store = InMemoryOutbox()
        self.repository: OutboxRepository = self.store
        self._users = 100

    def add_user(self) -> int:
        self._users += 1
        return self._users

    def add_destination(self, user_id: int, **columns: Any) -> int:
        return self.store.add_destination(user_id, **({"verified_at": LATE} | columns))

    def set_quiet_hours(self, user_id: int) -> None:
        self.store.set_quiet_hours(user_id, "Europe/Berlin", time(22, 0), time(7, 0), "critical")

    def deliver(self, delivery_id: int) -> None:
        self.store.rows[delivery_id]["status"] = "delivered"

    def row(self, delivery_id: int) -> tuple[int, datetime, str | None]:
        r = self.store.rows[delivery_id]
        return r["destination_id"], r["next_attempt_at"], r["last_error"]


def message(severity: str) -> AlertMessage:
    return AlertMessage(
        subject="HF below 1.2", headline="HF 1.15.", details=(), severity=severity, link=None, transaction_link=None
    )


def story(world: World) -> list[Any]:
    """Enqueues covering destination choice, quiet hours and repeats, told by destination names."""
    user, other = world.add_user(), world.add_user()
    names = {
        world.add_destination(user): "default",
        world.add_destination(user, is_default=False): "extra",
        world.add_destination(user, verified_at=None): "unverified",
        world.add_destination(user, unsubscribed_at=LATE): "unsubscribed",
        world.add_destination(user, disabled_reason="gone"): "disabled",
        world.add_destination(other): "theirs",
    }
    world.set_quiet_hours(user)
    box = Outbox(world.repository, None, clock=lambda: LATE)

    def told(ids: list[int]) -> list[tuple[str, datetime, str | None]]:
        return [(names[d], at, note) for d, at, note in map(world.row, ids)]

    enqueue = box.enqueue
    by_default = enqueue(user_id=user, idempotency_key="e:1", message=message("warning"), destination_ids=None)
    named = enqueue(user_id=user, idempotency_key="e:2", message=message("critical"), destination_ids=list(names))
    again = enqueue(user_id=user, idempotency_key="e:2", message=message("critical"), destination_ids=list(names))
    world.deliver(named[0])
    after_delivery = enqueue(
        user_id=user, idempotency_key="e:2", message=message("critical"), destination_ids=list(names)
    )
    return [told(by_default), told(named), told(again), told(after_delivery), again == named]


def test_the_in_memory_outbox_answers_as_postgres(db: Database) -> None:
    # Given the same destinations and quiet hours in Postgres and in memory
    # When the same enqueues run over both
    real, fake = story(PostgresWorld(db)), story(MemoryWorld())
    # Then they select, hold and name again the same rows
    assert fake == real
    assert real[0][0][0] == "default"
    assert "quiet hours" in (real[0][0][2] or "")
    assert [name for name, _, _ in real[1]] == ["default", "extra"]
    assert [name for name, _, _ in real[3]] == ["extra"]
