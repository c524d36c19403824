"""Billing routes: the user's plan, Stripe Checkout and customer portal, and the Stripe webhook.

The user routes take `CurrentUser` (Bearer JWT, per-user rate limit) and read the plan from the
database, not from the token, so a plan change shows at once. `POST /webhooks/stripe` has no token:
the Stripe signature over the raw body is its authentication, checked before anything is parsed or
written (and it is not rate limited: Stripe bursts on retries, and the signature check is cheap).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from api.deps import BillingDep, ClockDep, CurrentUser, DatabaseDep
from tidewatch.billing.account import BillingOverview, PortalLink, billing_overview, open_portal, start_checkout
from tidewatch.billing.refresh import BillingContext
from tidewatch.billing.stripe_gateway import CheckoutLink, StripeUnavailable
from tidewatch.billing.webhooks import REFUSED_REASONS, Outcome, process_stripe_event, verify_stripe_webhook
from tidewatch.observability import MetricUnit, logger, metrics

router = APIRouter(tags=["billing"])


async def raw_body(request: Request) -> bytes:
    # The signature covers the exact bytes Stripe sent: never re-serialise before verifying.
    return await request.body()


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid access token."},
    503: {"description": "Stripe is unreachable or billing is not configured."},
}


@router.get("/billing", summary="Your plan, subscription status, renewal date and entitlements", responses=_PROBLEMS)
def get_billing(user: CurrentUser, database: DatabaseDep) -> BillingOverview:
    return billing_overview(database, user.user_id)


@router.post(
    "/billing/checkout",
    summary="Start a Stripe Checkout for Pro; open the returned URL",
    responses={
        **_PROBLEMS,
        404: {"description": "The signed-in user no longer exists."},
        409: {"description": "Already subscribed: use the customer portal."},
    },
)
def post_checkout(user: CurrentUser, database: DatabaseDep, clock: ClockDep, billing: BillingDep) -> CheckoutLink:
    return start_checkout(
        database,
        billing.gateway,
        billing.settings,
        user_id=user.user_id,
        address=user.address,
        now=datetime.fromtimestamp(clock(), tz=UTC),
    )


@router.post(
    "/billing/portal",
    summary="Open the Stripe customer portal (payment method, invoices, cancel)",
    responses={**_PROBLEMS, 404: {"description": "No billing account yet."}},
)
def post_portal(user: CurrentUser, database: DatabaseDep, billing: BillingDep) -> PortalLink:
    return open_portal(database, billing.gateway, billing.settings, user_id=user.user_id)


class WebhookAck(BaseModel):
    received: bool = True
    event_id: str
    outcome: Outcome
    reason: str | None = Field(default=None, description="Why an event was acknowledged without effect.")


@router.post(
    "/webhooks/stripe",
    summary="Stripe webhook endpoint (signed by Stripe)",
    responses={
        400: {"description": "Unsigned, wrongly signed, stale or malformed: nothing was written."},
        503: {"description": "No signing secret or Stripe key configured, or Stripe unreachable: Stripe retries."},
    },
)
def post_stripe_webhook(
    body: Annotated[bytes, Depends(raw_body)],
    database: DatabaseDep,
    clock: ClockDep,
    billing: BillingDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    if not billing.webhook_secret:
        raise StripeUnavailable("the Stripe webhook secret is not configured")
    now = clock()
    event = verify_stripe_webhook(
        body,
        stripe_signature,
        billing.webhook_secret,
        tolerance_seconds=billing.settings.stripe_webhook_tolerance_seconds,
        now=now,
    )
    context = BillingContext(
        reader=billing.gateway,
        pro_price_ids=billing.settings.pro_price_ids,
        grace=timedelta(days=billing.settings.billing_grace_days),
        now=datetime.fromtimestamp(now, tz=UTC),
    )
    result = process_stripe_event(database, event, context)
    logger.info(
        "stripe webhook",
        extra={
            "event_id": result.event_id,
            "event_type": result.event_type,
            "outcome": result.outcome.value,
            "reason": result.reason,
        },
    )
    metrics.add_metric(name=f"StripeWebhook_{result.outcome.value}", unit=MetricUnit.Count, value=1)
    if result.reason in REFUSED_REASONS:
        # Refused links and foreign references are acknowledged (Stripe would retry a 5xx for days) but counted.
        logger.warning("stripe webhook without effect", extra={"event_id": result.event_id, "reason": result.reason})
        metrics.add_metric(name="StripeWebhookRefused", unit=MetricUnit.Count, value=1)
    if result.plan_change is not None:
        metrics.add_metric(name=f"PlanChangedTo_{result.plan_change.new_plan.value}", unit=MetricUnit.Count, value=1)
    return WebhookAck(event_id=result.event_id, outcome=result.outcome, reason=result.reason)
