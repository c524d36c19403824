"""The signed-in user's billing: overview, starting a checkout, opening the customer portal."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tidewatch.billing import repository
from tidewatch.billing.plans import Entitlements, Plan, entitlements_for
from tidewatch.billing.settings import BillingSettings
from tidewatch.billing.stripe_gateway import BillingGateway, CheckoutLink, CustomerGone
from tidewatch.billing.subscription_state import LIVE_STATUSES
from tidewatch.db import Database
from tidewatch.errors import Conflict, NotFound


class BillingOverview(BaseModel):
    plan: Plan
    status: str | None = Field(description="Stripe's subscription status; null without a subscription.")
    renews_at: datetime | None = Field(description="Next renewal; null when the subscription is cancelling.")
    ends_at: datetime | None = Field(
        description="When the subscription ends, if it is cancelling (`cancel_at`, or the period end)."
    )
    grace_until: datetime | None = Field(description="A failed payment keeps Pro until then.")
    entitlements: Entitlements


class PortalLink(BaseModel):
    url: str


def billing_overview(database: Database, user_id: int) -> BillingOverview:
    with database.connection() as conn:
        plan = repository.user_plan(conn, user_id)
        if plan is None:
            raise NotFound("no such user")
        row = repository.read_billing(conn, user_id)
    live = row is not None and row.status in LIVE_STATUSES
    cancelling = row is not None and (row.cancel_at is not None or row.cancel_at_period_end)
    period_end = row.current_period_end if row is not None and live else None
    return BillingOverview(
        plan=Plan(plan),
        status=row.status if row else None,
        renews_at=None if cancelling else period_end,
        ends_at=((row.cancel_at or period_end) if row is not None and live and cancelling else None),
        grace_until=row.grace_until if row else None,
        entitlements=entitlements_for(plan),
    )


# A new customer after deletions is a new generation (a new idempotency key); should Stripe still
# answer with a deleted one, the next generation is tried.
_MAX_CUSTOMER_ATTEMPTS = 3


def _customer_for(database: Database, gateway: BillingGateway, user_id: int, address: str) -> str:
    """The user's Stripe customer, created once per deletion (row lock + idempotency key) and linked."""
    with database.transaction() as conn:
        if not repository.user_exists(conn, user_id):
            raise NotFound("no such user")
        row = repository.lock_billing(conn, user_id)
        if any(s.entitled and s.status in LIVE_STATUSES for s in repository.user_subscriptions(conn, user_id)):
            raise Conflict("you already have a subscription; manage it in the customer portal")
        if row.stripe_customer_id is not None:
            return row.stripe_customer_id
        generation = repository.deleted_customer_count(conn, user_id)
        for attempt in range(_MAX_CUSTOMER_ATTEMPTS):
            customer_id = gateway.create_customer(user_id=user_id, address=address, generation=generation + attempt)
            if not repository.customer_deleted(conn, customer_id):
                repository.link_customer(conn, user_id, customer_id)
                return customer_id
        raise Conflict("Stripe keeps answering with a deleted customer; try again later")


def _forget(database: Database, user_id: int, customer_id: str, now: datetime) -> None:
    from tidewatch.billing.refresh import forget_customer

    with database.transaction() as conn:
        repository.lock_billing(conn, user_id)
        forget_customer(conn, user_id, customer_id, deleted_at=now)


def start_checkout(
    database: Database,
    gateway: BillingGateway,
    settings: BillingSettings,
    *,
    user_id: int,
    address: str,
    now: datetime,
) -> CheckoutLink:
    """A Checkout Session for Pro; a customer Stripe says is gone is forgotten and replaced once."""
    for _ in range(2):
        customer_id = _customer_for(database, gateway, user_id, address)
        try:
            return gateway.create_checkout_session(
                customer_id=customer_id,
                user_id=user_id,
                price_id=settings.stripe_price_pro,
                success_url=settings.billing_success_url,
                cancel_url=settings.billing_cancel_url,
            )
        except CustomerGone:
            # Deleted in Stripe, and its `customer.deleted` event not processed yet.
            _forget(database, user_id, customer_id, now)
    raise Conflict("the billing account was just replaced; try again")


def open_portal(database: Database, gateway: BillingGateway, settings: BillingSettings, *, user_id: int) -> PortalLink:
    with database.connection() as conn:
        row = repository.read_billing(conn, user_id)
    if row is None or row.stripe_customer_id is None:
        raise NotFound("no billing account yet: start a checkout first", slug="no-billing-account")
    url = gateway.create_portal_session(
        customer_id=row.stripe_customer_id, return_url=settings.billing_portal_return_url
    )
    return PortalLink(url=url)
