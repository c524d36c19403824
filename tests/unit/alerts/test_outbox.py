"""The outbox's rules over an in-memory repository: an alert below the quiet-hours severity waits
until the quiet hours end (kept, not dropped, and not queued yet); one row per (firing,
destination) however often the firing is enqueued; only the user's usable destinations. Postgres
tests cover the one-statement enqueue and the whole flow (tests/integration/alerts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, time

import pytest

from tests.fakes.alerts import T0, InMemoryOutbox
from tidewatch.alerts.messages import AlertMessage
from tidewatch.alerts.outbox import Outbox, QuietHours

USER = 7
# 23:30 in Berlin
LATE = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
BERLIN_MORNING = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def message(severity: str) -> AlertMessage:
    return AlertMessage(
        subject="HF below 1.2",
        headline="Health factor 1.15.",
        details=(),
        severity=severity,
        link=None,
        transaction_link=None,
    )


class RecordingQueue:
    def __init__(self) -> None:
        self.submitted: list[list[int]] = []

    def submit(self, delivery_ids: Sequence[int], *, delay_seconds: float = 0.0) -> None:
        self.submitted.append(list(delivery_ids))


@pytest.fixture
def store() -> InMemoryOutbox:
    return InMemoryOutbox()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def outbox(store: InMemoryOutbox, queue: RecordingQueue, now: datetime = T0) -> Outbox:
    return Outbox(store, queue, clock=lambda: now)


def test_an_alert_below_the_quiet_hours_severity_waits_until_they_end(
    store: InMemoryOutbox, queue: RecordingQueue
) -> None:
    # Given quiet hours 22:00-07:00 in Berlin for warnings and below, and it is 23:30 there
    slack = store.add_destination(USER)
    store.set_quiet_hours(USER, "Europe/Berlin", time(22, 0), time(7, 0), "critical")
    # When a warning is enqueued
    ids = outbox(store, queue, LATE).enqueue(
        user_id=USER, idempotency_key="execution:1", message=message("warning"), destination_ids=[slack]
    )
    # Then its row waits until 07:00 Berlin, says why, and is not handed to the queue yet
    assert len(ids) == 1
    row = store.rows[ids[0]]
    assert row["next_attempt_at"] == BERLIN_MORNING
    assert row["last_error"] == f"held for quiet hours until {BERLIN_MORNING.isoformat()}"
    assert queue.submitted == []


def test_a_critical_alert_goes_out_during_quiet_hours(store: InMemoryOutbox, queue: RecordingQueue) -> None:
    # Given the same quiet hours at 23:30 Berlin
    slack = store.add_destination(USER)
    store.set_quiet_hours(USER, "Europe/Berlin", time(22, 0), time(7, 0), "critical")
    # When a critical alert is enqueued
    ids = outbox(store, queue, LATE).enqueue(
        user_id=USER, idempotency_key="execution:1", message=message("critical"), destination_ids=[slack]
    )
    # Then it is due now and queued at once
    assert store.rows[ids[0]]["next_attempt_at"] == LATE
    assert store.rows[ids[0]]["last_error"] is None
    assert queue.submitted == [ids]


def test_quiet_hours_can_be_ignored_or_given_by_the_caller(store: InMemoryOutbox, queue: RecordingQueue) -> None:
    # Given stored quiet hours that would hold a warning at 23:30 Berlin
    slack = store.add_destination(USER)
    store.set_quiet_hours(USER, "Europe/Berlin", time(22, 0), time(7, 0), "critical")
    box = outbox(store, queue, LATE)
    # When one warning ignores quiet hours and another comes with quiet hours already read (none)
    [ignored] = box.enqueue(
        user_id=USER,
        idempotency_key="execution:1",
        message=message("warning"),
        destination_ids=[slack],
        respect_quiet_hours=False,
    )
    [given] = box.enqueue(
        user_id=USER,
        idempotency_key="execution:2",
        message=message("warning"),
        destination_ids=[slack],
        quiet=QuietHours("UTC", None, None),
    )
    # Then both are due now, and the stored preferences were never read
    assert store.rows[ignored]["next_attempt_at"] == store.rows[given]["next_attempt_at"] == LATE
    assert queue.submitted == [[ignored], [given]]
    assert store.quiet_hours_reads == 0


def test_a_firing_enqueued_twice_writes_one_row_per_destination(store: InMemoryOutbox, queue: RecordingQueue) -> None:
    # Given two default destinations of the user
    first, second = store.add_destination(USER), store.add_destination(USER)
    box = outbox(store, queue)
    # When the same firing is enqueued twice (a retried action, a redelivered event)
    ids = box.enqueue(user_id=USER, idempotency_key="execution:1", message=message("warning"), destination_ids=None)
    again = box.enqueue(user_id=USER, idempotency_key="execution:1", message=message("warning"), destination_ids=None)
    # Then there is one row per destination, and the second call names the same rows still to send
    assert sorted(r["destination_id"] for r in store.rows.values()) == [first, second]
    assert again == ids
    assert json.loads(store.rows[ids[0]]["message"])["subject"] == "HF below 1.2"


def test_a_row_already_sent_is_not_named_again(store: InMemoryOutbox, queue: RecordingQueue) -> None:
    # Given a firing whose row was delivered
    store.add_destination(USER)
    box = outbox(store, queue)
    [sent] = box.enqueue(user_id=USER, idempotency_key="execution:1", message=message("info"), destination_ids=None)
    store.rows[sent]["status"] = "delivered"
    # When the firing is enqueued again
    again = box.enqueue(user_id=USER, idempotency_key="execution:1", message=message("info"), destination_ids=None)
    # Then nothing is written or queued again
    assert again == []
    assert len(store.rows) == 1
    assert queue.submitted == [[sent]]


def test_only_the_users_usable_destinations_are_selected(store: InMemoryOutbox, queue: RecordingQueue) -> None:
    # Given the user's default, non-default, unverified, unsubscribed and disabled destinations,
    # and another user's
    default = store.add_destination(USER)
    extra = store.add_destination(USER, is_default=False)
    unverified = store.add_destination(USER, verified_at=None)
    unsubscribed = store.add_destination(USER, unsubscribed_at=T0)
    disabled = store.add_destination(USER, disabled_reason="bot blocked")
    theirs = store.add_destination(USER + 1)
    box = outbox(store, queue)
    # When one firing goes to the default set and another names every destination
    by_default = box.enqueue(user_id=USER, idempotency_key="execution:1", message=message("info"), destination_ids=None)
    named = box.enqueue(
        user_id=USER,
        idempotency_key="execution:2",
        message=message("info"),
        destination_ids=[default, extra, unverified, unsubscribed, disabled, theirs],
    )
    # Then the default set is the default destination, and naming reaches only the usable ones of the user
    assert [store.rows[i]["destination_id"] for i in by_default] == [default]
    assert [store.rows[i]["destination_id"] for i in named] == [default, extra]
