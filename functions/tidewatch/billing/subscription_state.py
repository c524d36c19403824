"""Subscription state derivation that ends right whatever order Stripe's events arrive in.

Stripe delivers events at least once and in no guaranteed order. Every fact we store carries the
time Stripe stated it (the event's `created`), and a fact only replaces an older one:

* Per subscription, a snapshot applies when its event is newer than the stored one; on the same
  second, the status further along the lifecycle wins (incomplete < trialing/active < past_due <
  unpaid < canceled). A terminal status (canceled, incomplete_expired) is never left: Stripe never
  revives a canceled subscription.
* Between two subscriptions of one user (a cancel followed by a new checkout), a live subscription
  beats a terminal one, and otherwise the more recently created subscription wins; so a late
  `deleted` of the old subscription cannot downgrade the new one.
* Payment facts (invoice paid / failed) are ordered by their own time, separately from snapshots:
  the first failure of a delinquency starts the grace period; a later payment or an `active`
  snapshot newer than the failure ends it.

Everything here is pure (no database, no clock): callers pass `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tidewatch.billing.plans import Plan
from tidewatch.billing.stripe_objects import SubscriptionObject, from_unix

PAID_STATUSES = frozenset({"active", "trialing"})
DELINQUENT_STATUSES = frozenset({"past_due", "unpaid"})
TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})

_LIFECYCLE_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "paused": 2,
    "past_due": 3,
    "unpaid": 4,
    "incomplete_expired": 9,
    "canceled": 9,
}


def _rank(status: str | None) -> int:
    return _LIFECYCLE_RANK.get(status or "", -1)


@dataclass(frozen=True)
class SubscriptionState:
    """What we hold about one user's subscription (a row of `subscriptions`)."""

    user_id: int
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None
    status: str | None = None
    subscription_created_at: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    grace_until: datetime | None = None
    source_updated_at: datetime | None = None  # time of the snapshot event applied last
    payment_state_at: datetime | None = None  # time of the payment fact applied last

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def plan_at(self, now: datetime) -> Plan:
        return effective_plan(self.status, self.grace_until, now)


def effective_plan(status: str | None, grace_until: datetime | None, now: datetime) -> Plan:
    """Pro while paid, or while delinquent inside the grace period; free otherwise."""
    if grace_until is not None and now >= grace_until:
        return Plan.FREE
    if status in PAID_STATUSES:
        return Plan.PRO
    if status in DELINQUENT_STATUSES and grace_until is not None:
        return Plan.PRO
    return Plan.FREE


def _supersedes(incoming: SubscriptionObject, event_at: datetime, stored: SubscriptionState) -> bool:
    if stored.stripe_subscription_id is None:
        return True
    if incoming.id == stored.stripe_subscription_id:
        if stored.is_terminal:
            return False
        if stored.source_updated_at is None:
            return True
        # `>=`: an equal snapshot re-applied changes nothing, and a same-second renewal keeps its period end.
        return (event_at, _rank(incoming.status)) >= (stored.source_updated_at, _rank(stored.status))
    # Another subscription of the same user: live beats terminal, then the newer one wins.
    incoming_key = (incoming.status not in TERMINAL_STATUSES, incoming.created)
    stored_created = stored.subscription_created_at.timestamp() if stored.subscription_created_at else 0
    return incoming_key > (not stored.is_terminal, stored_created)


def apply_subscription_snapshot(
    stored: SubscriptionState, incoming: SubscriptionObject, *, event_at: datetime, grace: timedelta
) -> SubscriptionState | None:
    """The state after a subscription snapshot, or None when the snapshot is stale (ignored)."""
    if not _supersedes(incoming, event_at, stored):
        return None
    switching = incoming.id != stored.stripe_subscription_id
    grace_until = None if switching else stored.grace_until
    payment_state_at = None if switching else stored.payment_state_at
    if incoming.status in TERMINAL_STATUSES:
        grace_until = None
    elif incoming.status in PAID_STATUSES:
        # Paid again, unless we know of a payment failure more recent than this snapshot.
        if payment_state_at is None or event_at >= payment_state_at:
            grace_until = None
    elif incoming.status in DELINQUENT_STATUSES and grace_until is None:
        # Delinquent before the failed-invoice event arrived: the grace starts now.
        grace_until = event_at + grace
    return replace(
        stored,
        stripe_customer_id=incoming.customer,
        stripe_subscription_id=incoming.id,
        status=incoming.status,
        subscription_created_at=from_unix(incoming.created),
        current_period_end=incoming.period_end,
        cancel_at_period_end=incoming.cancel_at_period_end,
        grace_until=grace_until,
        source_updated_at=event_at,
        payment_state_at=payment_state_at,
    )


def apply_payment(
    stored: SubscriptionState, *, subscription_id: str | None, paid: bool, event_at: datetime, grace: timedelta
) -> SubscriptionState | None:
    """The state after an invoice was paid (`paid`) or failed, or None when it changes nothing."""
    if subscription_id is None:
        return None  # a one-off invoice, not ours to judge the plan by
    if stored.stripe_subscription_id is not None and subscription_id != stored.stripe_subscription_id:
        return None  # an invoice of a subscription the user no longer has
    if stored.payment_state_at is not None and event_at < stored.payment_state_at:
        return None  # an older payment fact than the one we hold
    status, source_updated_at = stored.status, stored.source_updated_at
    if paid:
        grace_until = None
        if status in DELINQUENT_STATUSES and (source_updated_at is None or event_at >= source_updated_at):
            # Stripe makes a delinquent subscription active once its invoice is paid; the snapshot
            # saying so may arrive later (or earlier and be stale), so the payment stands for it.
            status, source_updated_at = "active", event_at
    else:
        grace_until = stored.grace_until if stored.grace_until is not None else event_at + grace
    return replace(
        stored,
        stripe_subscription_id=stored.stripe_subscription_id or subscription_id,
        status=status,
        grace_until=grace_until,
        source_updated_at=source_updated_at,
        payment_state_at=event_at,
    )
