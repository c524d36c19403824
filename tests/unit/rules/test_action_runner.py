"""The action runner over the `RuleActionRecords` port (in-memory fake)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fakes.rules import FakePusher, InMemoryRuleActions
from tidewatch.rules.actions import ActionRunner, Firing
from tidewatch.rules.model import NotifyAction

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _firing(execution_id: int, title: str) -> Firing:
    action = NotifyAction.model_construct(type="notify", title=title, severity="warning")
    return Firing(execution_id, 10 + execution_id, 7, None, "r", "60:1", AT, {"trigger_value": 0.06}, [action])


def test_a_refused_notification_fails_only_its_firing_and_is_permanent() -> None:
    # Given two firings, one whose title PostgreSQL would refuse
    records = InMemoryRuleActions()
    runner = ActionRunner(records, pusher=FakePusher(), preparer=None, webhooks=None, attempts=3, backoff_seconds=0.0)
    # When their actions run
    results = runner.run([_firing(1, "fine"), _firing(2, "bad\x00title")])
    # Then the good one is stored and the bad one failed once, marked permanent (no retries)
    [good], [bad] = results[1], results[2]
    assert good.ok
    assert [n["title"] for n in records.notifications] == ["fine"]
    assert not bad.ok
    assert bad.permanent
    assert bad.attempts == 1
    # And both results are recorded on their executions
    assert sorted(records.results) == [1, 2]
    assert records.results[2][1] is not None


def test_a_tick_s_notifications_are_stored_in_one_statement_each_firing_its_own() -> None:
    # Given three firings with notify actions
    records = InMemoryRuleActions()
    runner = ActionRunner(records, pusher=FakePusher(), preparer=None, webhooks=None, backoff_seconds=0.0)
    # When their actions run
    results = runner.run([_firing(1, "a"), _firing(2, "b"), _firing(3, "c")])
    # Then one batch stored the three, and each firing reports its own notification
    assert records.batches == 1
    assert [n["title"] for n in records.notifications] == ["a", "b", "c"]
    assert [results[e][0].detail["notification_id"] for e in (1, 2, 3)] == [1, 2, 3]
    assert all(results[e][0].ok and results[e][0].attempts == 1 for e in (1, 2, 3))
