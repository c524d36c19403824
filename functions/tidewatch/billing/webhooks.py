"""Stripe webhook processing: verified, parsed, applied exactly once.

The event id goes into `processed_webhook_events` in the same transaction as the event's effect:
either both are committed or neither is (and Stripe's retry gets a second chance). A redelivery
finds the id already there and changes nothing. A concurrent duplicate blocks on the primary key
until the first commits, then sees the conflict, so two deliveries racing also apply once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ValidationError

from tidewatch.billing import repository
from tidewatch.billing.plan_change import PlanChange
from tidewatch.billing.refresh import BillingContext, forget_customer, refresh_user
from tidewatch.billing.stripe_objects import (
    CheckoutSessionObject,
    CustomerObject,
    InvoiceObject,
    StripeEvent,
    SubscriptionObject,
    metadata_user_id,
)
from tidewatch.billing.subscription_state import PaymentFact, fact_of_status
from tidewatch.db import Connection, Database
from tidewatch.errors import BadRequest

PROVIDER = "stripe"


class InvalidWebhook(BadRequest):
    """Unsigned, wrongly signed, stale or unparsable: rejected before anything is written."""

    type_slug = "invalid-webhook"
    title = "Invalid webhook"


class Outcome(StrEnum):
    APPLIED = "applied"  # state changed
    UNCHANGED = "unchanged"  # recorded; stale or already reflected
    UNMATCHED = "unmatched"  # recorded; about no user of ours
    IGNORED = "ignored"  # recorded; a type billing does not act on, or refused (see `reason`)
    DUPLICATE = "duplicate"  # seen before: nothing done


# Why an event was acknowledged without effect (logged and counted; Stripe must not retry them).
REASON_BAD_REFERENCE = "bad-client-reference-id"
REASON_CUSTOMER_OF_ANOTHER_USER = "customer-linked-to-another-user"
REASON_USER_HAS_ANOTHER_CUSTOMER = "user-linked-to-another-customer"
REASON_CUSTOMER_DELETED = "customer-deleted"
REASON_NOT_A_SUBSCRIPTION = "not-a-subscription-checkout"
# Those that point at a bug or an attack rather than ordinary traffic: warned about and counted.
REFUSED_REASONS = frozenset({REASON_BAD_REFERENCE, REASON_CUSTOMER_OF_ANOTHER_USER, REASON_USER_HAS_ANOTHER_CUSTOMER})


class WebhookResult(BaseModel):
    event_id: str
    event_type: str
    outcome: Outcome
    reason: str | None = None
    plan_change: PlanChange | None = None


def _signed_timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            return int(value)
    raise ValueError("no timestamp")


def verify_stripe_webhook(
    payload: bytes, signature_header: str | None, secret: str, *, tolerance_seconds: int, now: float | None = None
) -> StripeEvent:
    """Check `Stripe-Signature` over the raw body with Stripe's own scheme, then parse the event.

    The signature is checked by the stripe library; the timestamp window is checked here in both
    directions (the library only bounds the past) against an injectable clock.
    """
    import stripe  # ~0.2 s: only on the webhook path

    try:
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=None)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise InvalidWebhook("the Stripe-Signature header does not match the body and secret") from exc
    assert signature_header is not None
    signed_at = _signed_timestamp(signature_header)
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance_seconds:
        raise InvalidWebhook(f"the signed timestamp is outside the {tolerance_seconds} s tolerance")
    try:
        return StripeEvent.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidWebhook("the body is not a Stripe event") from exc


_Result = tuple[Outcome, str | None, PlanChange | None]
_Handler = Callable[[Connection, StripeEvent, BillingContext], _Result]


def _for_customer(
    conn: Connection, event: StripeEvent, ctx: BillingContext, *, customer_id: str, claimed_user_id: int | None
) -> _Result:
    """Find the user of `customer_id` (linking it on first sight), then re-read and re-derive."""
    if repository.customer_deleted(conn, customer_id):
        return Outcome.UNCHANGED, REASON_CUSTOMER_DELETED, None
    linked = repository.user_for_customer(conn, customer_id)
    newly_linked = False
    if linked is not None:
        if claimed_user_id is not None and claimed_user_id != linked:
            return Outcome.IGNORED, REASON_CUSTOMER_OF_ANOTHER_USER, None
        user_id = linked
        repository.lock_billing(conn, user_id)
    elif claimed_user_id is not None and repository.user_exists(conn, claimed_user_id):
        user_id = claimed_user_id
        row = repository.lock_billing(conn, user_id)
        if row.stripe_customer_id is not None and row.stripe_customer_id != customer_id:
            return Outcome.IGNORED, REASON_USER_HAS_ANOTHER_CUSTOMER, None
        repository.link_customer(conn, user_id, customer_id)
        newly_linked = True
    else:
        return Outcome.UNMATCHED, None, None
    changed, plan_change = refresh_user(conn, ctx, user_id, read=customer_id, reason=event.type)
    return (Outcome.APPLIED if changed or newly_linked else Outcome.UNCHANGED), None, plan_change


def _on_checkout_completed(conn: Connection, event: StripeEvent, ctx: BillingContext) -> _Result:
    session = CheckoutSessionObject.model_validate(event.data.object)
    if session.has_bad_reference:
        return Outcome.IGNORED, REASON_BAD_REFERENCE, None
    if session.mode != "subscription" or session.customer is None:
        return Outcome.IGNORED, REASON_NOT_A_SUBSCRIPTION, None
    return _for_customer(conn, event, ctx, customer_id=session.customer, claimed_user_id=session.user_id)


def _on_subscription(conn: Connection, event: StripeEvent, ctx: BillingContext) -> _Result:
    sub = SubscriptionObject.model_validate(event.data.object)
    standing = fact_of_status(sub.status)
    if standing is not None:
        repository.record_fact(conn, event.id, sub.id, PaymentFact(standing, event.created_at))
    return _for_customer(conn, event, ctx, customer_id=sub.customer, claimed_user_id=metadata_user_id(sub.metadata))


def _on_invoice(conn: Connection, event: StripeEvent, ctx: BillingContext) -> _Result:
    invoice = InvoiceObject.model_validate(event.data.object)
    if invoice.subscription_id is not None:
        fact = PaymentFact(event.type == "invoice.paid", event.created_at)
        repository.record_fact(conn, event.id, invoice.subscription_id, fact)
    if invoice.customer is None:
        return Outcome.UNMATCHED, None, None
    return _for_customer(conn, event, ctx, customer_id=invoice.customer, claimed_user_id=invoice.user_id)


def _on_customer_deleted(conn: Connection, event: StripeEvent, ctx: BillingContext) -> _Result:
    customer = CustomerObject.model_validate(event.data.object)
    linked = repository.user_for_customer(conn, customer.id)
    named = (
        customer.user_id if customer.user_id is not None and repository.user_exists(conn, customer.user_id) else None
    )
    repository.record_deleted_customer(conn, customer.id, linked or named, event.created_at)
    if linked is None:
        return (Outcome.UNMATCHED if named is None else Outcome.APPLIED), None, None
    repository.lock_billing(conn, linked)
    forget_customer(conn, linked, customer.id, deleted_at=event.created_at)
    _, plan_change = refresh_user(conn, ctx, linked, gone=customer.id, reason=event.type)
    return Outcome.APPLIED, None, plan_change


HANDLERS: dict[str, _Handler] = {
    "checkout.session.completed": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "customer.subscription.paused": _on_subscription,
    "customer.subscription.resumed": _on_subscription,
    "customer.subscription.pending_update_applied": _on_subscription,
    "customer.subscription.pending_update_expired": _on_subscription,
    "customer.subscription.trial_will_end": _on_subscription,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
    "customer.deleted": _on_customer_deleted,
}


def process_stripe_event(database: Database, event: StripeEvent, ctx: BillingContext) -> WebhookResult:
    """Apply `event` once: record its id and its effect in one transaction.

    A Stripe read that fails raises `StripeUnavailable` (a 503): the transaction, event id
    included, rolls back, and Stripe's retry gets another chance.
    """
    with database.transaction() as conn:
        if not repository.record_event(conn, PROVIDER, event.id, event.type):
            return WebhookResult(event_id=event.id, event_type=event.type, outcome=Outcome.DUPLICATE)
        handler = HANDLERS.get(event.type)
        if handler is None:
            return WebhookResult(event_id=event.id, event_type=event.type, outcome=Outcome.IGNORED)
        try:
            outcome, reason, plan_change = handler(conn, event, ctx)
        except ValidationError as exc:
            # Signed by Stripe but not shaped as documented: refuse (and roll back the id) loudly.
            raise InvalidWebhook(f"the {event.type} object is not shaped as expected") from exc
        return WebhookResult(
            event_id=event.id, event_type=event.type, outcome=outcome, reason=reason, plan_change=plan_change
        )
