"""POST /webhooks/stripe: signature checks, exactly-once processing, order-independent state."""

from typing import Any

import pytest

from tidewatch_local.stripe_events import invoice, subscription

from .conftest import T0, Harness

pytestmark = pytest.mark.integration


def sub_obj(h: Harness, status: str, *, sub_id: str = "sub_1", created: int = T0 - 100, **kw: Any) -> dict[str, Any]:
    return subscription(sub_id=sub_id, customer="cus_1", status=status, created=created, user_id=h.user.id, **kw)


def written(h: Harness) -> tuple[int, int, int, str]:
    return (
        h.one("SELECT count(*) FROM processed_webhook_events"),
        h.one("SELECT count(*) FROM subscriptions"),
        h.one("SELECT count(*) FROM notifications"),
        h.one("SELECT plan FROM users WHERE id = %s", h.user.id),
    )


def test_a_signed_subscription_event_makes_the_user_pro(harness: Harness) -> None:
    # When Stripe reports an active subscription for the user
    response = harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 10)
    # Then it is acknowledged and applied
    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"
    row = harness.rows("SELECT * FROM subscriptions WHERE user_id = %s", harness.user.id)[0]
    assert (row["stripe_customer_id"], row["stripe_subscription_id"], row["status"]) == ("cus_1", "sub_1", "active")
    assert row["current_period_end"].timestamp() == T0 - 100 + 30 * 86400
    kinds = [r["kind"] for r in harness.rows("SELECT kind FROM notifications")]
    assert kinds == ["billing.plan_upgraded"]


def _signed(h: Harness, body: str, secret: str, at: int) -> str:
    from tidewatch_local.stripe_events import sign

    return sign(body, secret, timestamp=at)


@pytest.mark.parametrize("case", ["tampered", "wrong-secret", "stale", "unsigned", "garbage-header"])
def test_bad_signatures_get_400_problem_and_write_nothing(harness: Harness, case: str) -> None:
    import json

    from tidewatch_local.stripe_events import LOCAL_WEBHOOK_SECRET, event

    # Given a subscription event and a delivery broken in one way
    body = json.dumps(event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 10))
    now = int(harness.clock())
    signature: str | None = _signed(harness, body, LOCAL_WEBHOOK_SECRET, now)
    if case == "tampered":
        body = body.replace('"status": "active"', '"status": "trialing"')
    elif case == "wrong-secret":
        signature = _signed(harness, body, "whsec_attacker", now)
    elif case == "stale":
        signature = _signed(harness, body, LOCAL_WEBHOOK_SECRET, now - 301)
    elif case == "unsigned":
        signature = None
    else:
        signature = "v1=deadbeef"
    before = written(harness)
    # When it is delivered
    response = harness.deliver(body, signature)
    # Then it is a 400 problem and nothing changed
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/invalid-webhook")
    assert written(harness) == before == (0, 0, 0, "free")


def test_a_redelivery_is_acknowledged_and_changes_nothing(harness: Harness) -> None:
    # Given an event already processed
    obj = sub_obj(harness, "active")
    first = harness.post_event("customer.subscription.created", obj, created=T0 - 10, event_id="evt_dup")
    state = harness.rows("SELECT * FROM subscriptions")
    # When Stripe delivers it again (re-signed later, as Stripe does on retry)
    harness.clock.advance(60)
    second = harness.post_event("customer.subscription.created", obj, created=T0 - 10, event_id="evt_dup")
    # Then it is acknowledged 200 as a duplicate, and no row changed
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["outcome"] == "duplicate"
    assert harness.rows("SELECT * FROM subscriptions") == state
    assert harness.one("SELECT count(*) FROM processed_webhook_events") == 1
    assert harness.one("SELECT count(*) FROM notifications") == 1


def test_an_event_whose_effect_fails_is_not_recorded_so_stripe_can_retry(harness: Harness) -> None:
    # Given a signed subscription event that breaks the documented shape (no status)
    obj = sub_obj(harness, "active")
    del obj["status"]
    # When it is delivered
    response = harness.post_event("customer.subscription.updated", obj, created=T0 - 10, event_id="evt_broken")
    # Then it is refused and its id was rolled back with the (absent) effect
    assert response.status_code == 400
    assert harness.one("SELECT count(*) FROM processed_webhook_events") == 0


def test_a_late_deleted_event_of_an_old_subscription_keeps_the_new_one(harness: Harness) -> None:
    # Given the user moved from sub_old to sub_new, and the old one's deletion arrives last
    harness.post_event(
        "customer.subscription.created", sub_obj(harness, "active", sub_id="sub_new", created=T0 - 50), created=T0 - 50
    )
    harness.post_event(
        "customer.subscription.deleted",
        sub_obj(harness, "canceled", sub_id="sub_old", created=T0 - 5000, canceled_at=T0 - 60),
        created=T0 - 60,
    )
    # Then the user keeps Pro on the new subscription
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"
    assert harness.one("SELECT stripe_subscription_id FROM subscriptions") == "sub_new"


def test_events_for_unknown_customers_are_acknowledged_and_recorded(harness: Harness) -> None:
    obj = subscription(sub_id="sub_x", customer="cus_unknown", status="active", created=T0 - 10)
    response = harness.post_event("customer.subscription.created", obj, created=T0 - 5)
    assert (response.status_code, response.json()["outcome"]) == (200, "unmatched")
    assert harness.one("SELECT count(*) FROM subscriptions") == 0


def test_event_types_billing_does_not_handle_are_acknowledged(harness: Harness) -> None:
    response = harness.post_event("customer.created", {"id": "cus_1", "object": "customer"}, created=T0 - 5)
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")


def test_invoice_payment_failed_then_paid(harness: Harness) -> None:
    # Given a Pro user
    harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 100)
    # When a renewal payment fails (Stripe makes the subscription past_due)
    harness.stripe.put(sub_obj(harness, "past_due"))
    failed = invoice(invoice_id="in_1", customer="cus_1", subscription_id="sub_1", status="open", created=T0 - 50)
    harness.post_event("invoice.payment_failed", failed, created=T0 - 50)
    # Then Pro stays for the grace period and the user is told
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"
    grace_until = harness.one("SELECT grace_until FROM subscriptions")
    assert grace_until.timestamp() == T0 - 50 + 7 * 86400
    assert harness.one("SELECT count(*) FROM notifications WHERE kind = 'billing.payment_failed'") == 1
    # When the retry succeeds (Stripe makes the subscription active again)
    harness.stripe.put(sub_obj(harness, "active"))
    paid = invoice(invoice_id="in_1", customer="cus_1", subscription_id="sub_1", status="paid", created=T0 - 10)
    harness.post_event("invoice.paid", paid, created=T0 - 10)
    # Then the grace clock is gone
    assert harness.one("SELECT grace_until FROM subscriptions") is None
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "pro"


def test_concurrent_duplicate_deliveries_apply_once(harness: Harness) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from tests.fakes.stripe import API_BASE
    from tidewatch.billing.refresh import BillingContext
    from tidewatch.billing.stripe_gateway import StripeGateway
    from tidewatch.billing.stripe_objects import StripeEvent
    from tidewatch.billing.webhooks import process_stripe_event
    from tidewatch_local.stripe_events import PRO_PRICE, event

    # Given one event delivered four times at once (Stripe retrying while the first is in flight)
    harness.stripe.put(sub_obj(harness, "active"))
    parsed = StripeEvent.model_validate(
        event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 10, event_id="evt_race")
    )
    gateway = StripeGateway("sk_test", api_base=API_BASE, max_network_retries=0)
    ctx = BillingContext(
        reader=gateway,
        pro_price_ids=frozenset({PRO_PRICE}),
        grace=timedelta(days=7),
        now=datetime.fromtimestamp(T0, tz=UTC),
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: process_stripe_event(harness.db, parsed, ctx), range(4)))
    # Then exactly one applied it; the others saw a duplicate after it committed
    assert sorted(r.outcome.value for r in results) == ["applied", "duplicate", "duplicate", "duplicate"]
    assert harness.one("SELECT count(*) FROM notifications") == 1
