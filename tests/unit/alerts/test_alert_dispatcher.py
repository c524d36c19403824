"""The `deliver` action over the `FiringContexts` port and the outbox (in-memory fakes): the
firing's one context read gives the message its numbers and prepared transaction and the outbox
its quiet hours; a firing whose rule is gone is still told, in general words. Postgres tests
cover the whole flow to every channel (tests/integration/alerts/test_delivery.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time
from typing import Any

from tests.fakes.alerts import InMemoryFiringContexts, InMemoryOutbox
from tidewatch.alerts.action import AlertDispatcher
from tidewatch.alerts.outbox import Outbox

ALICE = 7
RULE = 12
LATE = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
BERLIN_MORNING = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
DASHBOARD = "https://app.tidewatch.dev"
DEFINITION = {
    "trigger": {"type": "health_factor_below", "threshold": 1.1, "hysteresis": 0.0},
    "actions": [{"type": "deliver", "severity": "warning"}],
}


def world() -> tuple[InMemoryFiringContexts, InMemoryOutbox, AlertDispatcher]:
    contexts, store = InMemoryFiringContexts(), InMemoryOutbox()
    store.add_destination(ALICE)
    dispatcher = AlertDispatcher(contexts, Outbox(store, None, clock=lambda: LATE), dashboard_url=DASHBOARD)
    return contexts, store, dispatcher


def fire(dispatcher: AlertDispatcher, *, execution_id: int = 1, window_key: str = "60:1") -> list[int]:
    result = dispatcher.deliver(
        execution_id=execution_id,
        rule_id=RULE,
        user_id=ALICE,
        portfolio_id=3,
        rule_name="Aave loan",
        observed={"trigger_value": 1.0834, "at": "2026-11-24T22:30:00+00:00"},
        window_key=window_key,
        destinations=None,
        severity="warning",
        title=None,
    )
    return list(result["deliveries"])


def message(store: InMemoryOutbox, delivery_id: int) -> dict[str, Any]:
    return dict(json.loads(store.rows[delivery_id]["message"]))


def test_the_owners_quiet_hours_come_with_the_firings_context() -> None:
    # Given Alice's rule and her quiet hours 22:00-07:00 in Berlin for warnings and below
    contexts, store, dispatcher = world()
    contexts.add_rule(RULE, DEFINITION)
    contexts.set_preferences(
        ALICE, timezone="Europe/Berlin", quiet_start=time(22, 0), quiet_end=time(7, 0), quiet_min_severity="critical"
    )
    # (the outbox's copy of the preferences differs, so reading it would show)
    store.set_quiet_hours(ALICE, "UTC", time(0, 0), time(23, 59), "critical")
    # When a warning fires at 23:30 Berlin
    [delivery] = fire(dispatcher)
    # Then it waits for 07:00 Berlin, from the one context read: the outbox reads no quiet hours
    assert store.rows[delivery]["next_attempt_at"] == BERLIN_MORNING
    assert (contexts.reads, store.quiet_hours_reads) == (1, 0)


def test_the_message_has_the_stored_threshold_and_this_firings_transaction() -> None:
    # Given Alice's rule, a transaction its firing in window 60:1 prepared, and no preferences
    contexts, store, dispatcher = world()
    contexts.add_rule(RULE, DEFINITION)
    transaction_id = contexts.add_transaction(ALICE, f"rule:{RULE}:60:1", uuid.uuid4())
    # When that firing and a later one (another window) are delivered
    [first] = fire(dispatcher)
    [later] = fire(dispatcher, execution_id=2, window_key="60:2")
    # Then both say the numbers against the stored threshold and go out now (no quiet hours)
    for delivery in (first, later):
        assert message(store, delivery)["headline"] == "Health factor 1.083 is below your threshold of 1.10."
        assert store.rows[delivery]["next_attempt_at"] == LATE
    # And only the first links the transaction its firing prepared
    assert message(store, first)["transaction_link"] == f"{DASHBOARD}/transactions/{transaction_id}"
    assert message(store, later)["transaction_link"] is None
    assert store.quiet_hours_reads == 0


def test_a_firing_whose_rule_is_gone_is_told_in_general_words() -> None:
    # Given a firing whose rule was deleted before its alert was composed
    contexts, store, dispatcher = world()
    contexts.add_rule(RULE, DEFINITION)
    contexts.add_transaction(ALICE, f"rule:{RULE}:60:1", uuid.uuid4())
    contexts.delete_rule(RULE)
    # When it is delivered
    [delivery] = fire(dispatcher)
    # Then the message names the rule without the trigger's numbers or a transaction
    told = message(store, delivery)
    assert told["headline"] == "Your rule 'Aave loan' fired."
    assert told["transaction_link"] is None
    assert told["link"] == f"{DASHBOARD}/portfolios/3"


def test_a_firing_whose_rule_is_gone_still_waits_for_the_owners_quiet_hours() -> None:
    # Given Alice's quiet hours 22:00-07:00 in Berlin, and a firing whose rule was deleted before
    # its alert was composed (so there is no context to carry them)
    contexts, store, dispatcher = world()
    contexts.add_rule(RULE, DEFINITION)
    contexts.delete_rule(RULE)
    store.set_quiet_hours(ALICE, "Europe/Berlin", time(22, 0), time(7, 0), "critical")
    # When its warning is delivered at 23:30 Berlin
    [delivery] = fire(dispatcher)
    # Then the outbox read her quiet hours and the alert waits for 07:00 Berlin
    assert store.quiet_hours_reads == 1
    assert store.rows[delivery]["next_attempt_at"] == BERLIN_MORNING
