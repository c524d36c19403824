"""The end of a grace period: users whose failed payment was not settled in time drop to Free.

Nothing tells us when a grace period ends, so a schedule calls `expire_grace_periods` (every few
minutes is plenty). Each user is handled in its own transaction under the billing row lock,
re-deriving the plan from the stored subscriptions (no Stripe call), so a webhook settling the
invoice at the same moment either lands first (no downgrade) or after (upgrade again).
"""

from __future__ import annotations

from datetime import datetime

from tidewatch.billing import repository
from tidewatch.billing.plan_change import PlanChange
from tidewatch.billing.refresh import BillingContext, refresh_user
from tidewatch.db import Database


def expire_grace_periods(database: Database, *, now: datetime) -> list[PlanChange]:
    with database.connection() as conn:
        due = repository.users_past_grace(conn, now)
    # Entitlement and grace ends are stored per subscription: the sweep needs neither prices nor Stripe.
    ctx = BillingContext(reader=None, pro_price_ids=frozenset(), grace=None, now=now)
    changes = []
    for user_id in due:
        with database.transaction() as conn:
            repository.lock_billing(conn, user_id)
            _, change = refresh_user(conn, ctx, user_id, reason="grace-period-ended")
            if change is not None:
                changes.append(change)
    return changes
