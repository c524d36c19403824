"""Downgrades disable excess rules (newest first) and tell the user; upgrades give them back."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from tidewatch.billing.grace import expire_grace_periods
from tidewatch_local.stripe_events import invoice, subscription

from .conftest import T0, Harness

pytestmark = pytest.mark.integration


def add_rule(h: Harness, name: str, *, age_days: int, cadence: int = 300, webhook: bool = False) -> int:
    actions = [{"type": "webhook", "url": "https://hooks.example/x"}] if webhook else [{"type": "notify"}]
    with h.db.connection() as conn:
        row = conn.execute(
            "INSERT INTO rules (user_id, name, definition, cadence_seconds, created_at) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (
                h.user.id,
                name,
                Jsonb({"trigger": {"type": "health_factor_below", "value": 1.2}, "actions": actions}),
                cadence,
                datetime.fromtimestamp(T0, tz=UTC) - timedelta(days=age_days),
            ),
        ).fetchone()
    assert row is not None
    return int(row["id"])


def rule_states(h: Harness) -> dict[str, tuple[bool, str | None]]:
    return {
        r["name"]: (r["enabled"], r["disabled_reason"])
        for r in h.rows("SELECT name, enabled, disabled_reason FROM rules")
    }


def sub(h: Harness, status: str, **kw: Any) -> dict[str, Any]:
    return subscription(sub_id="sub_1", customer="cus_1", status=status, created=T0 - 10_000, user_id=h.user.id, **kw)


def test_cancellation_disables_the_newest_excess_rules_and_notifies(harness: Harness) -> None:
    # Given a Pro user with five ordinary rules, one fast rule and one webhook rule
    harness.post_event("customer.subscription.created", sub(harness, "active"), created=T0 - 9000)
    for age in (50, 40, 30, 20, 10):
        add_rule(harness, f"age{age}", age_days=age)
    add_rule(harness, "fast", age_days=60, cadence=60)
    add_rule(harness, "hook", age_days=70, webhook=True)
    # When the subscription is deleted
    response = harness.post_event(
        "customer.subscription.deleted", sub(harness, "canceled", canceled_at=T0 - 100), created=T0 - 100
    )
    assert response.status_code == 200
    # Then the user is Free; rules Free cannot run are disabled, then the newest beyond 3 — none deleted
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "free"
    assert rule_states(harness) == {
        "hook": (False, "plan-webhook-actions"),
        "fast": (False, "plan-cadence"),
        "age50": (True, None),
        "age40": (True, None),
        "age30": (True, None),
        "age20": (False, "plan-rule-limit"),
        "age10": (False, "plan-rule-limit"),
    }
    # And a notification lists what was disabled
    note = harness.rows("SELECT * FROM notifications WHERE kind = 'billing.plan_downgraded'")
    assert len(note) == 1
    assert note[0]["user_id"] == harness.user.id
    assert len(note[0]["body"]["disabled_rule_ids"]) == 4
    assert note[0]["body"]["max_rules"] == 3


def test_resubscribing_reenables_the_rules_billing_disabled(harness: Harness) -> None:
    # Given a user downgraded with rules disabled by billing and one they disabled themselves
    harness.post_event("customer.subscription.created", sub(harness, "active"), created=T0 - 9000)
    for age in (50, 40, 30, 20):
        add_rule(harness, f"age{age}", age_days=age)
    harness.post_event("customer.subscription.updated", sub(harness, "past_due"), created=T0 - 8000)
    harness.post_event("customer.subscription.updated", sub(harness, "unpaid"), created=T0 - 7000)
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"  # still in grace
    harness.clock.advance(8 * 86400)
    changes = expire_grace_periods(harness.db, now=datetime.fromtimestamp(harness.clock(), tz=UTC))
    assert [c.new_plan.value for c in changes] == ["free"]
    assert rule_states(harness)["age20"] == (False, "plan-rule-limit")
    with harness.db.connection() as conn:
        conn.execute("UPDATE rules SET enabled = false, disabled_reason = 'user' WHERE name = 'age50'")
    # When they pay again (Stripe makes the subscription active and sends the paid invoice)
    harness.stripe.put(sub(harness, "active"))
    paid = invoice(
        invoice_id="in_2", customer="cus_1", subscription_id="sub_1", status="paid", created=int(harness.clock()) - 5
    )
    harness.post_event("invoice.paid", paid, created=int(harness.clock()) - 5)
    # Then Pro is back and only the billing-disabled rule is re-enabled
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"
    assert rule_states(harness) == {
        "age50": (False, "user"),
        "age40": (True, None),
        "age30": (True, None),
        "age20": (True, None),
    }


def test_grace_expiry_sweep_downgrades_only_when_due(harness: Harness) -> None:
    # Given a Pro user whose payment failed at T0 - 50
    harness.post_event("customer.subscription.created", sub(harness, "active"), created=T0 - 9000)
    failed = invoice(invoice_id="in_1", customer="cus_1", subscription_id="sub_1", status="open", created=T0 - 50)
    harness.post_event("invoice.payment_failed", failed, created=T0 - 50)
    harness.post_event("customer.subscription.updated", sub(harness, "past_due"), created=T0 - 49)
    grace_end = datetime.fromtimestamp(T0 - 50, tz=UTC) + timedelta(days=7)
    # When the sweep runs just before the grace ends
    assert expire_grace_periods(harness.db, now=grace_end - timedelta(seconds=1)) == []
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"
    # Then nothing happens; when it runs at the end, the user is Free and told so, once
    (change,) = expire_grace_periods(harness.db, now=grace_end)
    assert (change.old_plan.value, change.new_plan.value) == ("pro", "free")
    assert expire_grace_periods(harness.db, now=grace_end + timedelta(hours=1)) == []
    assert harness.one("SELECT count(*) FROM notifications WHERE kind = 'billing.plan_downgraded'") == 1
