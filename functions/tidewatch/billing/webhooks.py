"""Stripe webhook processing: verified, parsed, applied exactly once.

The event id goes into `processed_webhook_events` in the same transaction as the event's effect:
either both are committed or neither is (and Stripe's retry gets a second chance). A redelivery
finds the id already there and changes nothing. A concurrent duplicate blocks on the primary key
until the first commits, then sees the conflict, so two deliveries racing also apply once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ValidationError

from tidewatch.billing import store
from tidewatch.billing.plan_change import NOTIFICATION_PAYMENT_FAILED, PlanChange, change_plan, notify
from tidewatch.billing.stripe_objects import (
    CheckoutSessionObject,
    InvoiceObject,
    StripeEvent,
    SubscriptionObject,
    metadata_user_id,
)
from tidewatch.billing.subscription_state import SubscriptionState, apply_payment, apply_subscription_snapshot
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
    IGNORED = "ignored"  # recorded; a type billing does not act on
    DUPLICATE = "duplicate"  # seen before: nothing done


class WebhookResult(BaseModel):
    event_id: str
    event_type: str
    outcome: Outcome
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


_Handler = Callable[[Connection, StripeEvent, datetime, timedelta], tuple[Outcome, PlanChange | None]]


def _commit_state(
    conn: Connection, state: SubscriptionState, now: datetime, reason: str
) -> tuple[Outcome, PlanChange | None]:
    plan = state.plan_at(now)
    store.save_subscription(conn, state, plan.value)
    return Outcome.APPLIED, change_plan(conn, state.user_id, plan, reason=reason)


def _on_checkout_completed(
    conn: Connection, event: StripeEvent, now: datetime, grace: timedelta
) -> tuple[Outcome, PlanChange | None]:
    session = CheckoutSessionObject.model_validate(event.data.object)
    user_id = session.user_id
    if session.mode != "subscription" or user_id is None or not store.user_exists(conn, user_id):
        return Outcome.UNMATCHED, None
    stored = store.lock_subscription(conn, user_id)
    # Link the ids; the plan itself comes from subscription snapshots, which may come before or after.
    linked = replace(
        stored,
        stripe_customer_id=stored.stripe_customer_id or session.customer,
        stripe_subscription_id=stored.stripe_subscription_id or session.subscription,
    )
    if linked == stored:
        return Outcome.UNCHANGED, None
    return _commit_state(conn, linked, now, event.type)


def _subscription_user(conn: Connection, sub: SubscriptionObject) -> int | None:
    user_id = metadata_user_id(sub.metadata)
    if user_id is not None and store.user_exists(conn, user_id):
        return user_id
    return store.user_for_customer(conn, sub.customer) or store.user_for_subscription(conn, sub.id)


def _on_subscription(
    conn: Connection, event: StripeEvent, now: datetime, grace: timedelta
) -> tuple[Outcome, PlanChange | None]:
    sub = SubscriptionObject.model_validate(event.data.object)
    user_id = _subscription_user(conn, sub)
    if user_id is None:
        return Outcome.UNMATCHED, None
    stored = store.lock_subscription(conn, user_id)
    updated = apply_subscription_snapshot(stored, sub, event_at=event.created_at, grace=grace)
    if updated is None:
        return Outcome.UNCHANGED, None
    return _commit_state(conn, updated, now, event.type)


def _on_invoice(
    conn: Connection, event: StripeEvent, now: datetime, grace: timedelta
) -> tuple[Outcome, PlanChange | None]:
    invoice = InvoiceObject.model_validate(event.data.object)
    sub_id = invoice.subscription_id
    user_id = (store.user_for_subscription(conn, sub_id) if sub_id else None) or (
        store.user_for_customer(conn, invoice.customer) if invoice.customer else None
    )
    if user_id is None:
        return Outcome.UNMATCHED, None
    stored = store.lock_subscription(conn, user_id)
    paid = event.type == "invoice.paid"
    updated = apply_payment(stored, subscription_id=sub_id, paid=paid, event_at=event.created_at, grace=grace)
    if updated is None:
        return Outcome.UNCHANGED, None
    if not paid and stored.grace_until is None and updated.grace_until is not None:
        notify(
            conn,
            user_id,
            NOTIFICATION_PAYMENT_FAILED,
            "Your payment failed",
            {"invoice_id": invoice.id, "pro_until": updated.grace_until.isoformat()},
        )
    return _commit_state(conn, updated, now, event.type)


HANDLERS: dict[str, _Handler] = {
    "checkout.session.completed": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "customer.subscription.paused": _on_subscription,
    "customer.subscription.resumed": _on_subscription,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
}


def process_stripe_event(database: Database, event: StripeEvent, *, grace: timedelta, now: datetime) -> WebhookResult:
    """Apply `event` once: record its id and its effect in one transaction."""
    with database.transaction() as conn:
        first_time = conn.execute(
            "INSERT INTO processed_webhook_events (provider, event_id, event_type) VALUES (%s, %s, %s) "
            "ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id",
            (PROVIDER, event.id, event.type),
        ).fetchone()
        if first_time is None:
            return WebhookResult(event_id=event.id, event_type=event.type, outcome=Outcome.DUPLICATE)
        handler = HANDLERS.get(event.type)
        if handler is None:
            return WebhookResult(event_id=event.id, event_type=event.type, outcome=Outcome.IGNORED)
        try:
            outcome, plan_change = handler(conn, event, now, grace)
        except ValidationError as exc:
            # Signed by Stripe but not shaped as documented: refuse (and roll back the id) loudly.
            raise InvalidWebhook(f"the {event.type} object is not shaped as expected") from exc
        return WebhookResult(event_id=event.id, event_type=event.type, outcome=outcome, plan_change=plan_change)
