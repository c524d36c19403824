"""Outbound Stripe calls against a local stand-in at the HTTP layer."""

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.fakes.stripe import API_BASE, StripeStub, error_body, form
from tidewatch.billing.stripe_gateway import CustomerGone, StripeGateway, StripeUnavailable
from tidewatch_local.stripe_events import subscription

T0 = 1_795_960_800


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield StripeStub(mock)


@pytest.fixture
def gateway() -> StripeGateway:
    return StripeGateway("sk_test_tidewatch", api_base=API_BASE, max_network_retries=0)


def test_create_customer_sends_metadata_idempotency_key_and_api_version(
    stub: StripeStub, gateway: StripeGateway
) -> None:
    # When a customer is created for user 42
    customer_id = gateway.create_customer(user_id=42, address="0x00000000000000000000000000000000000000aA")
    # Then one form-encoded POST reached the configured API base with our key and idempotency key
    (request,) = stub.calls_to("/v1/customers")
    assert customer_id.startswith("cus_Stub")
    assert request.headers["Authorization"] == "Bearer sk_test_tidewatch"
    assert request.headers["Idempotency-Key"] == "tidewatch-customer-42"
    assert request.headers["Stripe-Version"].startswith("20")
    assert form(request)["metadata[tidewatch_user_id]"] == "42"


def test_a_retried_customer_creation_returns_the_same_customer(stub: StripeStub, gateway: StripeGateway) -> None:
    first = gateway.create_customer(user_id=42, address="0xabc")
    second = gateway.create_customer(user_id=42, address="0xabc")
    assert first == second


def test_checkout_session_is_a_subscription_for_the_pro_price(stub: StripeStub, gateway: StripeGateway) -> None:
    # When a checkout is started
    link = gateway.create_checkout_session(
        customer_id="cus_X", user_id=42, price_id="price_pro", success_url="https://s", cancel_url="https://c"
    )
    # Then Stripe was asked for a subscription-mode session naming the user everywhere events need it
    (request,) = stub.calls_to("/v1/checkout/sessions")
    sent = form(request)
    assert sent["mode"] == "subscription"
    assert sent["customer"] == "cus_X"
    assert sent["client_reference_id"] == "42"
    assert sent["line_items[0][price]"] == "price_pro"
    assert sent["line_items[0][quantity]"] == "1"
    assert sent["subscription_data[metadata][tidewatch_user_id]"] == "42"
    assert (sent["success_url"], sent["cancel_url"]) == ("https://s", "https://c")
    # And the hosted page URL comes back
    assert link.session_id.startswith("cs_test_")
    assert link.url.startswith("https://checkout.stripe.com/c/pay/cs_test_")


def test_portal_session_returns_its_url(stub: StripeStub, gateway: StripeGateway) -> None:
    url = gateway.create_portal_session(customer_id="cus_X", return_url="https://app/billing")
    (request,) = stub.calls_to("/v1/billing_portal/sessions")
    assert form(request) == {"customer": "cus_X", "return_url": "https://app/billing"}
    assert url.startswith("https://billing.stripe.com/p/session/")


def test_a_stripe_error_becomes_an_upstream_problem_without_secrets(gateway: StripeGateway) -> None:
    # Given Stripe answers 400 with its error object
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{API_BASE}/v1/checkout/sessions",
            json=error_body("No such price: 'price_pro'", code="resource_missing", param="line_items[0][price]"),
            status=400,
            headers={"Request-Id": "req_bad"},
        )
        # When a checkout is started
        with pytest.raises(StripeUnavailable) as caught:
            gateway.create_checkout_session(
                customer_id="cus_X", user_id=1, price_id="price_pro", success_url="https://s", cancel_url="https://c"
            )
    # Then the problem is a 503 naming Stripe's request id, and nothing of the key
    problem = caught.value.to_problem()
    assert problem["status"] == 503
    assert problem["stripe_request_id"] == "req_bad"
    assert "sk_test" not in str(problem)


def test_an_unreachable_stripe_is_an_upstream_problem() -> None:
    gateway = StripeGateway("sk_test_x", api_base="http://127.0.0.1:1", timeout_seconds=1, max_network_retries=0)
    with pytest.raises(StripeUnavailable):
        gateway.create_portal_session(customer_id="cus_X", return_url="https://r")


def test_listing_subscriptions_reads_every_page_including_canceled(stub: StripeStub, gateway: StripeGateway) -> None:
    # Given a customer with 150 subscriptions, some canceled (more than one page of 100)
    for i in range(150):
        stub.put(
            subscription(
                sub_id=f"sub_{i:03d}", customer="cus_X", status="canceled" if i % 3 else "active", created=T0 + i
            )
        )
    stub.put(subscription(sub_id="sub_other", customer="cus_Y", status="active", created=T0))
    # When the gateway lists them
    subs = gateway.list_subscriptions("cus_X")
    # Then all 150 came back, in two requests with status=all, the second after the first page's last id
    assert sorted(s.id for s in subs) == [f"sub_{i:03d}" for i in range(150)]
    calls = stub.calls_to("/v1/subscriptions")
    assert len(calls) == 2
    queries = [dict(parse_qsl(urlsplit(c.url).query)) for c in calls]
    assert {q["status"] for q in queries} == {"all"}
    assert {q["customer"] for q in queries} == {"cus_X"}
    assert "starting_after" not in queries[0]
    assert queries[1]["starting_after"] == "sub_050"


def test_a_deleted_customer_is_reported_as_gone(stub: StripeStub, gateway: StripeGateway) -> None:
    # Given Stripe deleted the customer
    stub.delete_customer("cus_X")
    # Then listing its subscriptions and starting a checkout for it both say it is gone
    with pytest.raises(CustomerGone):
        gateway.list_subscriptions("cus_X")
    with pytest.raises(CustomerGone):
        gateway.create_checkout_session(
            customer_id="cus_X", user_id=1, price_id="price_pro", success_url="https://s", cancel_url="https://c"
        )


def test_a_new_customer_generation_uses_a_new_idempotency_key(stub: StripeStub, gateway: StripeGateway) -> None:
    first = gateway.create_customer(user_id=42, address="0xabc")
    second = gateway.create_customer(user_id=42, address="0xabc", generation=1)
    assert first != second
    keys = [r.headers["Idempotency-Key"] for r in stub.calls_to("/v1/customers")]
    assert keys == ["tidewatch-customer-42", "tidewatch-customer-42-1"]
