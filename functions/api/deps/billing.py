"""Collaborators of the billing routes: settings, the Stripe gateway and the webhook secret.

Built on the first billing request (not at cold start: every other route would pay for a secret
fetch it does not need) and cached per container. Tests pass their own `BillingDeps` as
`ApiDeps.billing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tidewatch.billing.settings import BillingSettings
from tidewatch.billing.stripe_gateway import BillingGateway, CheckoutLink, StripeGateway, StripeUnavailable
from tidewatch.billing.stripe_objects import SubscriptionObject
from tidewatch.secrets import fetch_secret


@dataclass(frozen=True)
class BillingDeps:
    settings: BillingSettings
    gateway: BillingGateway
    webhook_secret: str | None


class _UnconfiguredGateway:
    """Stands in when no Stripe key is configured: billing answers 503 instead of crashing."""

    def _refuse(self) -> StripeUnavailable:
        return StripeUnavailable("billing is not configured on this deployment")

    def create_customer(self, *, user_id: int, address: str, generation: int = 0) -> str:
        raise self._refuse()

    def create_checkout_session(
        self, *, customer_id: str, user_id: int, price_id: str, success_url: str, cancel_url: str
    ) -> CheckoutLink:
        raise self._refuse()

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        raise self._refuse()

    def list_subscriptions(self, customer_id: str) -> list[SubscriptionObject]:
        # Webhooks re-read the customer's subscriptions: without a key they answer 503 and Stripe retries.
        raise self._refuse()


def _secret(value: object | None, reference: str | None) -> str | None:
    if reference:
        return fetch_secret(reference)
    if value is None:
        return None
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)


def billing_deps_from(settings: BillingSettings) -> BillingDeps:
    api_key = _secret(settings.stripe_api_key, settings.stripe_api_key_secret_arn)
    gateway: BillingGateway = (
        StripeGateway(
            api_key,
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
        )
        if api_key
        else _UnconfiguredGateway()
    )
    webhook_secret = _secret(settings.stripe_webhook_secret, settings.stripe_webhook_secret_arn)
    return BillingDeps(settings=settings, gateway=gateway, webhook_secret=webhook_secret)


@lru_cache(maxsize=1)
def production_billing_deps() -> BillingDeps:
    return billing_deps_from(BillingSettings())
