"""The user's billing derived from Stripe's objects, not from the order their events arrive in.

Stripe delivers events at least once and in no order, so no event is taken as "the new state".
Every event about a customer makes us re-read the customer's subscriptions from Stripe's API
(under the user's row lock: the read written last is the newest) and store that SET. The plan is a
pure function of it:

* a subscription grants Pro only when one of its items has a configured Pro price;
* Pro while any granting subscription is `active` / `trialing`;
* Pro while a granting subscription is delinquent (`past_due` / `unpaid`) inside its grace period;
* Free otherwise (no subscription, all ended, or only unconfigured prices).

The grace period is the only thing a read cannot tell (a subscription has no "delinquent since"),
so it comes from payment facts: each event states, at Stripe's time (`event.created`), that a
subscription was in good standing (invoice paid, active/trialing snapshot) or delinquent (invoice
payment failed, past_due/unpaid snapshot). The grace starts at the earliest delinquent fact not
older than the last good one: a set of facts, so the same whatever order they came in.

Everything here is pure (no database, no clock): callers pass `now`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tidewatch.billing.plans import Plan

if TYPE_CHECKING:
    # Only the Stripe webhook and refresh paths build these; the api's cold path (portfolio
    # admission reads plans through the billing repository) does not load the Stripe models.
    from tidewatch.billing.stripe_objects import SubscriptionObject

PAID_STATUSES = frozenset({"active", "trialing"})
DELINQUENT_STATUSES = frozenset({"past_due", "unpaid"})
LIVE_STATUSES = PAID_STATUSES | DELINQUENT_STATUSES
TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})


@dataclass(frozen=True)
class PaymentFact:
    in_good_standing: bool
    stated_at: datetime


def fact_of_status(status: str) -> bool | None:
    """What a subscription snapshot with `status` says about payment: good, delinquent or nothing."""
    if status in PAID_STATUSES:
        return True
    if status in DELINQUENT_STATUSES:
        return False
    return None


def grace_start(facts: Iterable[PaymentFact]) -> datetime | None:
    """The earliest delinquent fact not older than the newest good-standing fact, if any."""
    facts = list(facts)
    good = [f.stated_at for f in facts if f.in_good_standing]
    last_good = max(good) if good else None
    bad = [f.stated_at for f in facts if not f.in_good_standing and (last_good is None or f.stated_at >= last_good)]
    return min(bad) if bad else None


@dataclass(frozen=True)
class StoredSubscription:
    """A Stripe subscription as last read (a row of `stripe_subscriptions`)."""

    subscription_id: str
    customer_id: str
    status: str
    price_ids: tuple[str, ...]
    entitled: bool
    created_at: datetime
    current_period_end: datetime | None
    cancel_at: datetime | None
    cancel_at_period_end: bool
    read_at: datetime
    grace_until: datetime | None = None
    grace_notified: bool = False

    @property
    def paid(self) -> bool:
        return self.entitled and self.status in PAID_STATUSES

    @property
    def delinquent(self) -> bool:
        return self.entitled and self.status in DELINQUENT_STATUSES

    @property
    def cancelling(self) -> bool:
        return self.cancel_at is not None or self.cancel_at_period_end

    @property
    def ends_at(self) -> datetime | None:
        """When a cancelling subscription ends: its `cancel_at`, else the end of its period."""
        if not self.cancelling:
            return None
        return self.cancel_at or self.current_period_end


def read_subscription(
    obj: SubscriptionObject, *, pro_price_ids: frozenset[str], read_at: datetime
) -> StoredSubscription:
    return StoredSubscription(
        subscription_id=obj.id,
        customer_id=obj.customer,
        status=obj.status,
        price_ids=tuple(obj.price_ids),
        entitled=any(price in pro_price_ids for price in obj.price_ids),
        created_at=obj.created_at,
        current_period_end=obj.period_end,
        cancel_at=obj.cancel_at_time,
        cancel_at_period_end=obj.cancel_at_period_end,
        read_at=read_at,
    )


def ended(sub: StoredSubscription, *, read_at: datetime) -> StoredSubscription:
    """`sub` once Stripe no longer lists it (its customer was deleted): canceled."""
    if sub.status in TERMINAL_STATUSES:
        return sub
    return replace(sub, status="canceled", read_at=read_at, grace_until=None)


def with_grace(
    sub: StoredSubscription, facts: Iterable[PaymentFact], *, grace: timedelta, previous: StoredSubscription | None
) -> StoredSubscription:
    """`sub` with its grace end: set while it is delinquent, from the facts; cleared otherwise.

    Stripe always sends a delinquent fact for a delinquency (the failed invoice, the past_due
    update), but a read can see the delinquency before that event is delivered; until it is, the
    grace runs from the first read that saw it, and the facts decide as soon as there are any.
    """
    if sub.status not in DELINQUENT_STATUSES:
        return replace(sub, grace_until=None, grace_notified=False)
    start = grace_start(facts)
    if start is None:
        start = previous.grace_until - grace if previous is not None and previous.grace_until else sub.read_at
    notified = previous.grace_notified if previous is not None and previous.status in DELINQUENT_STATUSES else False
    return replace(sub, grace_until=start + grace, grace_notified=notified)


@dataclass(frozen=True)
class Standing:
    """The user's billing as the product shows and enforces it."""

    plan: Plan
    primary: StoredSubscription | None  # the subscription shown (status, renewal or end)
    grace_until: datetime | None  # set when Pro is held by a grace period, or it just ran out


def _display_rank(sub: StoredSubscription) -> tuple[bool, bool, bool, bool, datetime]:
    return (
        sub.paid and not sub.cancelling,
        sub.paid,
        sub.delinquent,
        sub.status not in TERMINAL_STATUSES,
        sub.created_at,
    )


def derive(subscriptions: Iterable[StoredSubscription], *, now: datetime) -> Standing:
    subs = list(subscriptions)
    primary = max(subs, key=_display_rank) if subs else None
    if any(s.paid for s in subs):
        return Standing(Plan.PRO, primary, None)
    graces = [s.grace_until for s in subs if s.delinquent and s.grace_until is not None]
    if not graces:
        return Standing(Plan.FREE, primary, None)
    grace_until = max(graces)
    return Standing(Plan.PRO if now < grace_until else Plan.FREE, primary, grace_until)


def newly_in_grace(subscriptions: Iterable[StoredSubscription], standing: Standing, now: datetime) -> list[str]:
    """Ids of delinquent subscriptions whose owner is on Pro only by grace and not yet told."""
    if standing.plan != Plan.PRO or standing.grace_until is None:
        return []
    return [
        s.subscription_id
        for s in subscriptions
        if s.delinquent and not s.grace_notified and s.grace_until is not None and now < s.grace_until
    ]
