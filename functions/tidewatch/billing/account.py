"""The signed-in user's billing: overview, starting a checkout, opening the customer portal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from pydantic import BaseModel, Field

from tidewatch.billing import store
from tidewatch.billing.plans import Entitlements, Plan, entitlements_for
from tidewatch.billing.settings import BillingSettings
from tidewatch.billing.stripe_gateway import BillingGateway, CheckoutLink
from tidewatch.billing.subscription_state import DELINQUENT_STATUSES, PAID_STATUSES
from tidewatch.db import Database
from tidewatch.errors import Conflict, NotFound


class BillingOverview(BaseModel):
    plan: Plan
    status: str | None = Field(description="Stripe's subscription status; null without a subscription.")
    renews_at: datetime | None = Field(description="Next renewal, when the subscription renews.")
    ends_at: datetime | None = Field(description="When Pro ends, if cancelled at period end.")
    grace_until: datetime | None = Field(description="A failed payment keeps Pro until then.")
    entitlements: Entitlements


class PortalLink(BaseModel):
    url: str


def billing_overview(database: Database, user_id: int) -> BillingOverview:
    with database.connection() as conn:
        plan = store.user_plan(conn, user_id)
        if plan is None:
            raise NotFound("no such user")
        state = store.read_subscription(conn, user_id)
    live = state is not None and state.status in PAID_STATUSES | DELINQUENT_STATUSES
    period_end = state.current_period_end if state is not None and live else None
    cancelling = state is not None and state.cancel_at_period_end
    return BillingOverview(
        plan=Plan(plan),
        status=state.status if state else None,
        renews_at=None if cancelling else period_end,
        ends_at=period_end if cancelling else None,
        grace_until=state.grace_until if state else None,
        entitlements=entitlements_for(plan),
    )


def _customer_for(database: Database, gateway: BillingGateway, user_id: int, address: str) -> str:
    """The user's Stripe customer, created once (row lock + idempotency key) and linked."""
    with database.transaction() as conn:
        state = store.lock_subscription(conn, user_id)
        if state.status in PAID_STATUSES | DELINQUENT_STATUSES:
            raise Conflict("you already have a subscription; manage it in the customer portal")
        if state.stripe_customer_id is not None:
            return state.stripe_customer_id
        customer_id = gateway.create_customer(user_id=user_id, address=address)
        plan = store.user_plan(conn, user_id) or Plan.FREE.value
        store.save_subscription(conn, replace(state, stripe_customer_id=customer_id), plan)
        return customer_id


def start_checkout(
    database: Database, gateway: BillingGateway, settings: BillingSettings, *, user_id: int, address: str
) -> CheckoutLink:
    customer_id = _customer_for(database, gateway, user_id, address)
    return gateway.create_checkout_session(
        customer_id=customer_id,
        user_id=user_id,
        price_id=settings.stripe_price_pro,
        success_url=settings.billing_success_url,
        cancel_url=settings.billing_cancel_url,
    )


def open_portal(database: Database, gateway: BillingGateway, settings: BillingSettings, *, user_id: int) -> PortalLink:
    with database.connection() as conn:
        state = store.read_subscription(conn, user_id)
    if state is None or state.stripe_customer_id is None:
        raise NotFound("no billing account yet: start a checkout first", slug="no-billing-account")
    url = gateway.create_portal_session(
        customer_id=state.stripe_customer_id, return_url=settings.billing_portal_return_url
    )
    return PortalLink(url=url)
