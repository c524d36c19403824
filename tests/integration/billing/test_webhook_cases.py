"""The billing cases Stripe's real behaviour produces: late and out-of-order events, two
subscriptions, foreign prices, deleted customers, cancellation dates, references that are not ours.

Every event is signed and posted to `POST /webhooks/stripe`; Stripe's current state lives in the
stand-in (`harness.stripe`), which the webhook re-reads.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses

from tests.fakes.stripe import API_BASE, form
from tidewatch.billing.grace import expire_grace_periods
from tidewatch_local.stripe_events import checkout_session, invoice, subscription

from .conftest import T0, Harness, create_user

pytestmark = pytest.mark.integration

GRACE = timedelta(days=7)


def sub_obj(h: Harness, status: str, *, sub_id: str = "sub_1", created: int = T0 - 1000, **kw: Any) -> dict[str, Any]:
    return subscription(sub_id=sub_id, customer="cus_1", status=status, created=created, user_id=h.user.id, **kw)


def failed_invoice(at: int, sub_id: str = "sub_1") -> dict[str, Any]:
    return invoice(invoice_id=f"in_{at}", customer="cus_1", subscription_id=sub_id, status="open", created=at)


def plan(h: Harness) -> str:
    return str(h.one("SELECT plan FROM users WHERE id = %s", h.user.id))


def payment_notices(h: Harness) -> int:
    return int(h.one("SELECT count(*) FROM notifications WHERE kind = 'billing.payment_failed'"))


def sweep(h: Harness, after: timedelta) -> None:
    expire_grace_periods(h.db, now=datetime.fromtimestamp(T0, tz=UTC) + after)


def test_a_late_payment_failure_after_a_newer_active_state_does_nothing(harness: Harness) -> None:
    # Given the subscription failed a payment at T0-100, recovered, and is active as of T0-10
    harness.post_event("customer.subscription.updated", sub_obj(harness, "active"), created=T0 - 10)
    # When the old failure arrives late (its invoice.paid still in flight)
    response = harness.post_event("invoice.payment_failed", failed_invoice(T0 - 100), created=T0 - 100)
    # Then it changes nothing: no grace clock, no notice, and the sweep a week later keeps Pro
    assert response.status_code == 200
    assert harness.one("SELECT grace_until FROM subscriptions") is None
    assert payment_notices(harness) == 0
    sweep(harness, GRACE + timedelta(days=1))
    assert plan(harness) == "pro"


def test_a_late_payment_failure_after_the_deletion_does_nothing(harness: Harness) -> None:
    # Given a subscription that was deleted
    harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 500)
    harness.post_event(
        "customer.subscription.deleted", sub_obj(harness, "canceled", canceled_at=T0 - 20), created=T0 - 20
    )
    # When an earlier failed payment of it arrives afterwards
    harness.post_event("invoice.payment_failed", failed_invoice(T0 - 100), created=T0 - 100)
    # Then the user stays Free, with no grace and no "payment failed" notice
    assert plan(harness) == "free"
    assert harness.one("SELECT grace_until FROM subscriptions") is None
    assert payment_notices(harness) == 0


def test_the_grace_starts_at_the_failure_whichever_event_arrives_first(harness: Harness) -> None:
    # Given an active subscription; Stripe fails the payment at T0-50 and marks it past_due at T0-40
    harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 500)
    harness.stripe.put(sub_obj(harness, "past_due"))
    # When the past_due update arrives before the failed invoice
    harness.post_event("customer.subscription.updated", sub_obj(harness, "past_due"), created=T0 - 40)
    harness.post_event("invoice.payment_failed", failed_invoice(T0 - 50), created=T0 - 50)
    # Then the grace runs from the failure, as it does in the other order
    grace_until = harness.one("SELECT grace_until FROM subscriptions")
    assert grace_until == datetime.fromtimestamp(T0 - 50, tz=UTC) + GRACE


def test_a_past_due_update_before_the_failed_invoice_in_the_same_second_still_tells_the_user(
    harness: Harness,
) -> None:
    # Given a Pro user
    harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 500)
    # When Stripe's past_due update and the failed invoice (same second) arrive in that order
    harness.post_event("customer.subscription.updated", sub_obj(harness, "past_due"), created=T0 - 50)
    harness.post_event("invoice.payment_failed", failed_invoice(T0 - 50), created=T0 - 50)
    # Then the user is told once, and keeps Pro for the grace period
    assert payment_notices(harness) == 1
    (note,) = harness.rows("SELECT body FROM notifications WHERE kind = 'billing.payment_failed'")
    assert note["body"]["pro_until"] == (datetime.fromtimestamp(T0 - 50, tz=UTC) + GRACE).isoformat()
    assert plan(harness) == "pro"


def test_cancelling_one_of_two_subscriptions_keeps_pro_from_the_other(harness: Harness) -> None:
    # Given two checkouts (two tabs): sub_old and a newer sub_new, both paid
    harness.post_event(
        "customer.subscription.created",
        sub_obj(harness, "active", sub_id="sub_old", created=T0 - 900),
        created=T0 - 900,
    )
    harness.post_event(
        "customer.subscription.created",
        sub_obj(harness, "active", sub_id="sub_new", created=T0 - 800),
        created=T0 - 800,
    )
    # When the newer one is cancelled
    harness.post_event(
        "customer.subscription.deleted",
        sub_obj(harness, "canceled", sub_id="sub_new", created=T0 - 800, canceled_at=T0 - 10),
        created=T0 - 10,
    )
    # Then the older, still paid, keeps the user Pro and is the one shown
    assert plan(harness) == "pro"
    assert harness.one("SELECT stripe_subscription_id FROM subscriptions") == "sub_old"
    # And when that one is cancelled too, the user is Free
    harness.post_event(
        "customer.subscription.deleted",
        sub_obj(harness, "canceled", sub_id="sub_old", created=T0 - 900, canceled_at=T0 - 5),
        created=T0 - 5,
    )
    assert plan(harness) == "free"


def test_a_subscription_with_an_unconfigured_price_grants_nothing(harness: Harness) -> None:
    # When the linked customer has an active subscription to some other price
    other = sub_obj(harness, "active", price_id="price_someone_elses_product")
    response = harness.post_event("customer.subscription.created", other, created=T0 - 10)
    # Then it is recorded but the user stays Free
    assert response.status_code == 200
    assert plan(harness) == "free"
    assert harness.one("SELECT entitled FROM stripe_subscriptions WHERE subscription_id = 'sub_1'") is False


def test_a_cancel_at_date_is_shown_as_the_end_not_a_renewal(harness: Harness) -> None:
    # Given an active subscription set to cancel at a date before its period ends
    cancel_at = T0 + 5 * 86400
    harness.post_event(
        "customer.subscription.updated", sub_obj(harness, "active", cancel_at=cancel_at), created=T0 - 10
    )
    # When the user looks at billing
    body = harness.client.get("/billing").json()
    # Then Pro shows its end date, and no renewal
    assert body["plan"] == "pro"
    assert body["renews_at"] is None
    assert body["ends_at"] == datetime.fromtimestamp(cancel_at, tz=UTC).isoformat().replace("+00:00", "Z")


def test_after_the_customer_is_deleted_checkout_creates_a_new_one(harness: Harness) -> None:
    # Given a user whose checkout created and linked a Stripe customer, then Stripe deleted it
    assert harness.client.post("/billing/checkout").status_code == 200
    old = harness.one("SELECT stripe_customer_id FROM subscriptions")
    deleted = {
        "id": old,
        "object": "customer",
        "deleted": True,
        "metadata": {"tidewatch_user_id": str(harness.user.id)},
    }
    response = harness.post_event("customer.deleted", deleted, created=T0 - 5)
    assert (response.status_code, response.json()["outcome"]) == (200, "applied")
    assert harness.one("SELECT stripe_customer_id FROM subscriptions") is None
    # When the user starts a checkout again
    again = harness.client.post("/billing/checkout")
    # Then it works, on a new customer created under a new idempotency key
    assert again.status_code == 200
    new = harness.one("SELECT stripe_customer_id FROM subscriptions")
    assert new not in (None, old)
    keys = [r.headers["Idempotency-Key"] for r in harness.stripe.calls_to("/v1/customers")]
    assert keys == [f"tidewatch-customer-{harness.user.id}", f"tidewatch-customer-{harness.user.id}-1"]
    assert form(harness.stripe.calls_to("/v1/checkout/sessions")[-1])["customer"] == new


def test_checkout_replaces_a_customer_stripe_deleted_before_its_event_arrived(harness: Harness) -> None:
    # Given a linked customer that Stripe has deleted, its customer.deleted event not yet delivered
    assert harness.client.post("/billing/checkout").status_code == 200
    old = harness.one("SELECT stripe_customer_id FROM subscriptions")
    harness.stripe.delete_customer(old)
    # When the user starts a checkout
    response = harness.client.post("/billing/checkout")
    # Then a new customer is created and used, instead of a 503 for ever
    assert response.status_code == 200
    new = harness.one("SELECT stripe_customer_id FROM subscriptions")
    assert new not in (None, old)
    # And the late customer.deleted changes nothing for the new customer
    deleted = {"id": old, "object": "customer", "deleted": True, "metadata": {}}
    assert harness.post_event("customer.deleted", deleted, created=T0 - 1).status_code == 200
    assert harness.one("SELECT stripe_customer_id FROM subscriptions") == new


def test_events_of_a_deleted_customer_arriving_late_do_not_link_it_again(harness: Harness) -> None:
    # Given Stripe deleted the customer, and its deletion arrived first
    deleted = {
        "id": "cus_1",
        "object": "customer",
        "deleted": True,
        "metadata": {"tidewatch_user_id": str(harness.user.id)},
    }
    harness.post_event("customer.deleted", deleted, created=T0 - 5)
    # When the older checkout and subscription events arrive
    session = checkout_session(
        session_id="cs_1", customer="cus_1", subscription_id="sub_1", user_id=harness.user.id, created=T0 - 100
    )
    harness.post_event("checkout.session.completed", session, created=T0 - 100)
    harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 90, sync=False)
    # Then the user is Free with no billing account, so checkout starts afresh
    assert plan(harness) == "free"
    assert harness.one("SELECT stripe_customer_id FROM subscriptions") is None


@pytest.mark.parametrize("reference", ["²", "١٢", "99999999999999999999", "12abc", "-3", "0", " 7", "7\n"])
def test_a_client_reference_that_is_not_a_plain_positive_integer_is_acknowledged_and_ignored(
    harness: Harness, reference: str
) -> None:
    # Given a completed checkout whose client_reference_id is not one of our user ids
    session = checkout_session(
        session_id="cs_x", customer="cus_x", subscription_id="sub_x", user_id=harness.user.id, created=T0 - 10
    )
    session["client_reference_id"] = reference
    # When it is delivered
    response = harness.post_event("checkout.session.completed", session, created=T0 - 5)
    # Then Stripe gets a 200 (no retries for days), nothing is linked
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert response.json()["reason"] == "bad-client-reference-id"
    assert harness.one("SELECT count(*) FROM subscriptions WHERE stripe_customer_id IS NOT NULL") == 0


def test_a_customer_already_linked_to_another_user_is_acknowledged_and_ignored(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routers import billing as billing_routes

    counted: list[str] = []
    monkeypatch.setattr(billing_routes.metrics, "add_metric", lambda name, **_: counted.append(name))
    # Given cus_1 linked to the harness user
    harness.post_event("customer.subscription.created", sub_obj(harness, "active"), created=T0 - 100)
    other = create_user(harness.db, "0x" + "9" * 40)
    # When a checkout of another user names the same customer
    session = checkout_session(session_id="cs_2", customer="cus_1", subscription_id="sub_2", user_id=other, created=T0)
    response = harness.post_event("checkout.session.completed", session, created=T0)
    # Then it is a 200 with the reason, and neither user's billing changed
    assert response.status_code == 200
    assert (response.json()["outcome"], response.json()["reason"]) == ("ignored", "customer-linked-to-another-user")
    assert harness.one("SELECT user_id FROM subscriptions WHERE stripe_customer_id = 'cus_1'") == harness.user.id
    assert harness.one("SELECT plan FROM users WHERE id = %s", other) == "free"
    # And it was counted as refused
    assert "StripeWebhookRefused" in counted


def test_stripe_unreachable_on_the_re_read_is_a_503_and_the_event_can_be_retried(harness: Harness) -> None:
    # Given Stripe's API is down
    harness.stripe.put(sub_obj(harness, "active"))
    with responses.RequestsMock() as down:
        down.add(responses.GET, f"{API_BASE}/v1/subscriptions", json={"error": {"type": "api_error"}}, status=500)
        response = harness.post_event(
            "customer.subscription.created", sub_obj(harness, "active"), created=T0 - 10, event_id="evt_retry"
        )
    # Then the delivery is refused with a 503 problem, and nothing was recorded
    assert response.status_code == 503
    assert harness.one("SELECT count(*) FROM processed_webhook_events") == 0
    # And Stripe's retry, once the API is back, is applied
    again = harness.post_event(
        "customer.subscription.created", sub_obj(harness, "active"), created=T0 - 10, event_id="evt_retry"
    )
    assert (again.status_code, again.json()["outcome"]) == (200, "applied")
    assert plan(harness) == "pro"


def test_checkout_for_a_deleted_user_with_a_valid_token_is_a_401(harness: Harness) -> None:
    # Given the signed-in user was deleted while their token is still valid
    with harness.db.connection() as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (harness.user.id,))
    # When they start a checkout
    response = harness.client.post("/billing/checkout")
    # Then the token no longer signs anyone in: a clean 401 problem, and Stripe was not called
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert harness.stripe.calls_to("/v1/customers") == []
