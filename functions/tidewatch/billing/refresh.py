"""Re-deriving one user's billing: re-read the customer's subscriptions, then plan, grace, notices.

Called with the user's `subscriptions` row locked (`repository.lock_billing`), from webhooks (with a
read from Stripe) and from the grace sweep (without one: the stored set and the clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tidewatch.billing import repository
from tidewatch.billing.plan_change import NOTIFICATION_PAYMENT_FAILED, PlanChange, change_plan, notify
from tidewatch.billing.stripe_objects import SubscriptionObject
from tidewatch.billing.subscription_state import (
    StoredSubscription,
    derive,
    ended,
    newly_in_grace,
    read_subscription,
    with_grace,
)
from tidewatch.db import Connection

_EPOCH = datetime.fromtimestamp(0, tz=UTC)


class SubscriptionReader(Protocol):
    def list_subscriptions(self, customer_id: str) -> list[SubscriptionObject]: ...


@dataclass(frozen=True)
class BillingContext:
    """What deriving a user's billing needs besides the database."""

    reader: SubscriptionReader | None  # None: no Stripe read (the grace sweep)
    pro_price_ids: frozenset[str]
    grace: timedelta | None  # None: keep each subscription's stored grace end (the grace sweep)
    now: datetime


def forget_customer(conn: Connection, user_id: int, customer_id: str, *, deleted_at: datetime) -> None:
    """Unlink a customer Stripe deleted (and never link it again), so checkout creates a new one."""
    repository.record_deleted_customer(conn, customer_id, user_id, deleted_at)
    row = repository.read_billing(conn, user_id)
    if row is not None and row.stripe_customer_id == customer_id:
        repository.link_customer(conn, user_id, None)


def _comparable(subs: list[StoredSubscription]) -> list[StoredSubscription]:
    return sorted((replace(s, read_at=_EPOCH) for s in subs), key=lambda s: s.subscription_id)


def _read(
    conn: Connection, ctx: BillingContext, user_id: int, customer_id: str, stored: dict[str, StoredSubscription]
) -> dict[str, StoredSubscription]:
    from tidewatch.billing.stripe_gateway import CustomerGone

    assert ctx.reader is not None
    current = dict(stored)
    try:
        listed = ctx.reader.list_subscriptions(customer_id)
    except CustomerGone:
        forget_customer(conn, user_id, customer_id, deleted_at=ctx.now)
        return {k: s for k, s in stored.items() if s.customer_id != customer_id}
    seen = set()
    for obj in listed:
        if obj.customer != customer_id:
            continue
        seen.add(obj.id)
        current[obj.id] = read_subscription(obj, pro_price_ids=ctx.pro_price_ids, read_at=ctx.now)
    # Stripe lists canceled subscriptions too (`status=all`): one it no longer lists has ended.
    for sub_id, sub in stored.items():
        if sub.customer_id == customer_id and sub_id not in seen:
            current[sub_id] = ended(sub, read_at=ctx.now)
    return current


def refresh_user(
    conn: Connection,
    ctx: BillingContext,
    user_id: int,
    *,
    read: str | None = None,
    gone: str | None = None,
    reason: str,
) -> tuple[bool, PlanChange | None]:
    """Re-derive the user's plan; `read`: re-read that customer's subscriptions from Stripe first;
    `gone`: that customer was deleted, its subscriptions are dropped. True when anything changed."""
    before = repository.user_subscriptions(conn, user_id)
    stored = {s.subscription_id: s for s in before}
    current = dict(stored)
    if read is not None and ctx.reader is not None:
        current = _read(conn, ctx, user_id, read, stored)
    if gone is not None:
        # Stripe cancelled them with the customer; the user is back to having no billing account.
        current = {k: s for k, s in current.items() if s.customer_id != gone}
    repository.delete_subscriptions(conn, user_id, sorted(set(stored) - set(current)))
    grace = ctx.grace
    subs = [
        s if grace is None else with_grace(s, repository.facts_for(conn, k), grace=grace, previous=stored.get(k))
        for k, s in sorted(current.items())
    ]
    standing = derive(subs, now=ctx.now)
    to_tell = set(newly_in_grace(subs, standing, ctx.now))
    if to_tell:
        subs = [replace(s, grace_notified=True) if s.subscription_id in to_tell else s for s in subs]
        assert standing.grace_until is not None
        notify(
            conn,
            user_id,
            NOTIFICATION_PAYMENT_FAILED,
            "Your payment failed",
            {"subscription_ids": sorted(to_tell), "pro_until": standing.grace_until.isoformat()},
        )
    for sub in subs:
        repository.save_subscription(conn, user_id, sub)
    row_before = repository.read_billing(conn, user_id)
    repository.save_standing(conn, user_id, standing)
    row_after = repository.read_billing(conn, user_id)
    plan_change = change_plan(conn, user_id, standing.plan, reason=reason)
    changed = _comparable(before) != _comparable(subs) or row_before != row_after or plan_change is not None
    return changed, plan_change
