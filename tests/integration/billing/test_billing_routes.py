"""GET /billing, POST /billing/checkout and /billing/portal against a Stripe stand-in."""

from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from tests.fakes.stripe import API_BASE, StripeStub, form
from tidewatch_local.stripe_events import subscription

from .conftest import T0, Harness, billing_settings

pytestmark = pytest.mark.integration

PERIOD_END = datetime.fromtimestamp(T0 - 100 + 30 * 86400, tz=UTC).isoformat().replace("+00:00", "Z")


def test_get_billing_for_a_new_user_shows_free(harness: Harness) -> None:
    response = harness.client.get("/billing")
    assert response.status_code == 200
    body = response.json()
    assert (body["plan"], body["status"], body["renews_at"], body["ends_at"]) == ("free", None, None, None)
    assert body["entitlements"]["max_rules"] == 3
    assert body["entitlements"]["webhook_actions"] is False


def test_checkout_creates_the_customer_once_and_links_it(harness: Harness, stripe_stub: StripeStub) -> None:
    # When the user starts a checkout twice (e.g. abandoned the first)
    first = harness.client.post("/billing/checkout")
    second = harness.client.post("/billing/checkout")
    # Then both answer with a hosted Checkout URL
    assert first.status_code == second.status_code == 200
    assert first.json()["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    # And exactly one customer was created and linked, used by both sessions
    customers = stripe_stub.calls_to("/v1/customers")
    assert len(customers) == 1
    customer_id = harness.one("SELECT stripe_customer_id FROM subscriptions WHERE user_id = %s", harness.user.id)
    assert customer_id.startswith("cus_Stub")
    sessions = [form(r) for r in stripe_stub.calls_to("/v1/checkout/sessions")]
    assert [s["customer"] for s in sessions] == [customer_id, customer_id]
    assert {s["mode"] for s in sessions} == {"subscription"}
    assert {s["line_items[0][price]"] for s in sessions} == {"price_tidewatch_pro_monthly"}


def test_checkout_is_refused_when_already_subscribed(harness: Harness, stripe_stub: StripeStub) -> None:
    sub = subscription(sub_id="sub_1", customer="cus_1", status="active", created=T0 - 100, user_id=harness.user.id)
    harness.post_event("customer.subscription.created", sub, created=T0 - 90)
    response = harness.client.post("/billing/checkout")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert stripe_stub.calls_to("/v1/checkout/sessions") == []


def test_get_billing_for_a_pro_user_shows_status_and_renewal(harness: Harness) -> None:
    # Given an active subscription whose period started at T0 - 100
    sub = subscription(sub_id="sub_1", customer="cus_1", status="active", created=T0 - 100, user_id=harness.user.id)
    harness.post_event("customer.subscription.created", sub, created=T0 - 90)
    body = harness.client.get("/billing").json()
    assert (body["plan"], body["status"], body["ends_at"]) == ("pro", "active", None)
    assert body["renews_at"] == PERIOD_END
    assert body["entitlements"]["max_rules"] == 100
    # When it is set to cancel at period end
    cancelling = subscription(
        sub_id="sub_1",
        customer="cus_1",
        status="active",
        created=T0 - 100,
        user_id=harness.user.id,
        cancel_at_period_end=True,
    )
    harness.post_event("customer.subscription.updated", cancelling, created=T0 - 50)
    body = harness.client.get("/billing").json()
    # Then it shows when Pro ends instead of a renewal
    assert (body["plan"], body["renews_at"]) == ("pro", None)
    assert body["ends_at"] == PERIOD_END


def test_portal_needs_a_billing_account(harness: Harness, stripe_stub: StripeStub) -> None:
    response = harness.client.post("/billing/portal")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/no-billing-account")


def test_portal_opens_for_the_linked_customer(harness: Harness, stripe_stub: StripeStub) -> None:
    harness.client.post("/billing/checkout")
    response = harness.client.post("/billing/portal")
    assert response.status_code == 200
    assert response.json()["url"].startswith("https://billing.stripe.com/p/session/")
    (call,) = stripe_stub.calls_to("/v1/billing_portal/sessions")
    linked = harness.one("SELECT stripe_customer_id FROM subscriptions")
    assert form(call) == {"customer": linked, "return_url": "http://localhost:5173/billing"}


def test_stripe_down_is_a_503_problem_and_no_customer_is_linked(make_harness: Any) -> None:
    h: Harness = make_harness()
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{API_BASE}/v1/customers",
            json={"error": {"type": "api_error", "message": "boom"}},
            status=500,
        )
        response = h.client.post("/billing/checkout")
    assert response.status_code == 503
    assert response.json()["type"].endswith("/billing-provider-unavailable")
    assert h.one("SELECT stripe_customer_id FROM subscriptions") is None


def test_billing_routes_need_a_signed_in_user(make_harness: Any) -> None:
    h: Harness = make_harness(signed_in=False)
    for method, path in [("GET", "/billing"), ("POST", "/billing/checkout"), ("POST", "/billing/portal")]:
        assert h.client.request(method, path).status_code == 401


def test_unconfigured_billing_answers_503(make_harness: Any) -> None:
    h: Harness = make_harness(billing_settings(stripe_api_key=None, stripe_webhook_secret=None))
    assert h.client.post("/billing/checkout").status_code == 503
    assert h.deliver("{}", "t=1,v1=00").status_code == 503


def test_openapi_documents_the_billing_routes(harness: Harness) -> None:
    spec = harness.client.get("/openapi.json").json()
    assert {"/billing", "/billing/checkout", "/billing/portal", "/webhooks/stripe"} <= set(spec["paths"])
    # The webhook takes no bearer token; the user routes do
    assert "security" not in spec["paths"]["/webhooks/stripe"]["post"]
    assert spec["paths"]["/billing"]["get"]["security"]
