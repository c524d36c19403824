"""Outbound calls to Stripe through the official library's `StripeClient`.

The stripe package is imported on first use, not at module import, so the api function pays its
~0.2 s only on billing paths. The API base is configurable so tests and the local run point the
client at a stand-in. Creating calls carry idempotency keys derived from our own ids, so a retry
(ours or the library's) never makes a second customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from tidewatch.billing.stripe_objects import USER_ID_METADATA_KEY, SubscriptionObject
from tidewatch.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from stripe import StripeClient


class CheckoutLink(BaseModel):
    session_id: str
    url: str


class BillingGateway(Protocol):
    def create_customer(self, *, user_id: int, address: str, generation: int = 0) -> str: ...

    def create_checkout_session(
        self, *, customer_id: str, user_id: int, price_id: str, success_url: str, cancel_url: str
    ) -> CheckoutLink: ...

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str: ...

    def list_subscriptions(self, customer_id: str) -> list[SubscriptionObject]: ...


# Pages of 100 read per customer at most (10,000 subscriptions): a bound, not an expected size.
MAX_SUBSCRIPTION_PAGES = 100


class CustomerGone(Exception):
    """Stripe answers that the customer does not exist (deleted): it must not be used again."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"the Stripe customer {customer_id} no longer exists")
        self.customer_id = customer_id


class StripeUnavailable(UpstreamUnavailable):
    type_slug = "billing-provider-unavailable"
    title = "Billing provider unavailable"


class StripeGateway:
    """`BillingGateway` over the Stripe API."""

    def __init__(
        self, api_key: str, *, api_base: str, timeout_seconds: float = 10.0, max_network_retries: int = 2
    ) -> None:
        self._api_key = api_key
        self._api_base = api_base
        self._timeout = timeout_seconds
        self._retries = max_network_retries
        self._client: StripeClient | None = None

    def _stripe(self) -> StripeClient:
        if self._client is None:
            import stripe

            self._client = stripe.StripeClient(
                self._api_key,
                base_addresses={"api": self._api_base},
                max_network_retries=self._retries,
                # Lambda must not hang for the library's default 80 s.
                http_client=stripe.RequestsClient(timeout=self._timeout),
            )
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, customer_id: str | None = None, **kwargs: Any) -> Any:
        import stripe

        try:
            return fn(*args, **kwargs)
        except stripe.InvalidRequestError as exc:
            if customer_id is not None and exc.code == "resource_missing" and exc.param in {"customer", "id"}:
                raise CustomerGone(customer_id) from exc
            raise StripeUnavailable(f"Stripe could not {what}", stripe_request_id=exc.request_id) from exc
        except stripe.StripeError as exc:
            # The problem names the operation and Stripe's request id, never the key or the body.
            request_id = getattr(exc, "request_id", None)
            raise StripeUnavailable(f"Stripe could not {what}", stripe_request_id=request_id) from exc

    def create_customer(self, *, user_id: int, address: str, generation: int = 0) -> str:
        """The user's customer number `generation` (one more after each customer Stripe deleted).

        The idempotency key names both: a retry returns the same customer, and after a deletion
        the next one is new (Stripe replays a key's first answer for 24 hours).
        """
        client = self._stripe()
        key = f"tidewatch-customer-{user_id}" if generation == 0 else f"tidewatch-customer-{user_id}-{generation}"
        customer = self._call(
            "create the customer",
            client.v1.customers.create,
            params={"description": f"Tidewatch user {address}", "metadata": {USER_ID_METADATA_KEY: str(user_id)}},
            options={"idempotency_key": key},
        )
        return str(customer.id)

    def create_checkout_session(
        self, *, customer_id: str, user_id: int, price_id: str, success_url: str, cancel_url: str
    ) -> CheckoutLink:
        client = self._stripe()
        metadata = {USER_ID_METADATA_KEY: str(user_id)}
        session = self._call(
            "start the checkout",
            client.v1.checkout.sessions.create,
            customer_id=customer_id,
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(user_id),
                "line_items": [{"price": price_id, "quantity": 1}],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "metadata": metadata,
                # Every subscription names its user, so its events map to them in any order.
                "subscription_data": {"metadata": metadata},
            },
        )
        return CheckoutLink(session_id=str(session.id), url=str(session.url))

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        client = self._stripe()
        session = self._call(
            "open the customer portal",
            client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": return_url},
        )
        return str(session.url)

    def list_subscriptions(self, customer_id: str) -> list[SubscriptionObject]:
        """Every subscription of the customer, canceled ones included (`status=all`), as of now."""
        client = self._stripe()
        params: dict[str, Any] = {"customer": customer_id, "status": "all", "limit": 100}
        found: list[SubscriptionObject] = []
        for _ in range(MAX_SUBSCRIPTION_PAGES):
            page = self._call(
                "read the subscriptions", client.v1.subscriptions.list, params=params, customer_id=customer_id
            )
            # The response's own JSON, as Stripe sent it, parsed by our models (not the library's objects).
            body = page.last_response.data
            subs = [SubscriptionObject.model_validate(item) for item in body["data"]]
            found.extend(subs)
            if not body.get("has_more") or not subs:
                break
            params = {**params, "starting_after": subs[-1].id}
        return found
