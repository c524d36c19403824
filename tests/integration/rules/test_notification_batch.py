"""A tick's notifications stored in one statement, against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fakes.rules import FakePusher
from tests.integration.rules.seeds import insert_rule, seed_user
from tidewatch.db import Database
from tidewatch.rules.actions import ActionRunner, Firing
from tidewatch.rules.model import NotifyAction

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPEC = {"name": "n", "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05}}


def _firings(db: Database, titles: list[str]) -> list[Firing]:
    user_id, _ = seed_user(db)
    firings = []
    for k, title in enumerate(titles):
        rule_id = insert_rule(db, user_id, {**SPEC, "actions": [{"type": "notify"}]})
        with db.connection() as conn:
            row = conn.execute(
                "INSERT INTO rule_executions (rule_id, window_key, fired) VALUES (%s, %s, true) RETURNING id",
                (rule_id, f"w{k}"),
            ).fetchone()
        assert row
        action = NotifyAction.model_construct(type="notify", title=title, severity="warning")
        firings.append(Firing(int(row["id"]), rule_id, user_id, None, "n", f"w{k}", AT, {}, [action]))
    return firings


def _titles(db: Database) -> list[str]:
    with db.connection() as conn:
        return [str(r["title"]) for r in conn.execute("SELECT title FROM notifications ORDER BY id").fetchall()]


def test_notifications_of_many_firings_are_stored_once_each_in_order(db: Database) -> None:
    # Given three firings with notify actions
    firings = _firings(db, ["a", "b", "c"])
    runner = ActionRunner(db, pusher=FakePusher(), preparer=None, webhooks=None, backoff_seconds=0.0)
    # When their actions run
    results = runner.run(firings)
    # Then each is stored once, and each firing names its own notification
    assert _titles(db) == ["a", "b", "c"]
    with db.connection() as conn:
        by_id = {int(r["id"]): str(r["title"]) for r in conn.execute("SELECT id, title FROM notifications").fetchall()}
    assert [by_id[results[f.execution_id][0].detail["notification_id"]] for f in firings] == ["a", "b", "c"]


def test_a_refused_title_fails_only_its_own_firing(db: Database) -> None:
    # Given two firings, one with a title PostgreSQL refuses
    firings = _firings(db, ["fine", "bad\x00title"])
    runner = ActionRunner(db, pusher=FakePusher(), preparer=None, webhooks=None, attempts=3, backoff_seconds=0.0)
    # When their actions run
    results = runner.run(firings)
    # Then the good one is stored once and the bad one is a permanent failure
    assert _titles(db) == ["fine"]
    [bad] = results[firings[1].execution_id]
    assert bad.permanent
    assert bad.attempts == 1
