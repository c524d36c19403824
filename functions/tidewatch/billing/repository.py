"""Billing rows in PostgreSQL.

* `subscriptions`: one row per user, locked while that user's billing changes; it holds the link to
  the Stripe customer and the derived summary (plan, the subscription shown, grace end).
* `stripe_subscriptions`: every subscription of the user's customers as last read from Stripe.
* `stripe_payment_facts`: good-standing / delinquent facts by subscription, at Stripe's time.
* `stripe_deleted_customers`: customers deleted in Stripe, never linked again.
* `processed_webhook_events`: each Stripe event id applied once.
* `users.plan` and what it governs: the user's rules (disabled and re-enabled on plan changes),
  the counts the plan limits are checked against (`PlanUsageRecords`), billing notifications.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from tidewatch.billing.subscription_state import PaymentFact, Standing, StoredSubscription
from tidewatch.db import Connection


@dataclass(frozen=True)
class BillingRow:
    """The user's `subscriptions` row."""

    user_id: int
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    status: str | None
    plan: str
    current_period_end: datetime | None
    cancel_at: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None


_ROW_COLUMNS = [f.name for f in fields(BillingRow)]
_SUB_COLUMNS = [f.name for f in fields(StoredSubscription)]


def _row(row: dict[str, Any]) -> BillingRow:
    return BillingRow(**{name: row[name] for name in _ROW_COLUMNS})


def lock_billing(conn: Connection, user_id: int) -> BillingRow:
    """The user's row, created empty if missing and locked until the transaction ends.

    The lock serialises everything that changes one user's billing (concurrent webhooks, a
    checkout racing a webhook, the grace sweep), so each change reads what the previous one wrote,
    and each read from Stripe made under it is newer than the one stored before.
    """
    conn.execute("INSERT INTO subscriptions (user_id) VALUES (%s) ON CONFLICT (user_id) DO NOTHING", (user_id,))
    row = conn.execute(
        f"SELECT {', '.join(_ROW_COLUMNS)} FROM subscriptions WHERE user_id = %s FOR UPDATE", (user_id,)
    ).fetchone()
    assert row is not None
    return _row(row)


def read_billing(conn: Connection, user_id: int) -> BillingRow | None:
    row = conn.execute(f"SELECT {', '.join(_ROW_COLUMNS)} FROM subscriptions WHERE user_id = %s", (user_id,)).fetchone()
    return None if row is None else _row(row)


def link_customer(conn: Connection, user_id: int, customer_id: str | None) -> None:
    conn.execute(
        "UPDATE subscriptions SET stripe_customer_id = %s, updated_at = now() WHERE user_id = %s",
        (customer_id, user_id),
    )


def save_standing(conn: Connection, user_id: int, standing: Standing) -> None:
    primary = standing.primary
    conn.execute(
        """UPDATE subscriptions SET stripe_subscription_id = %s, status = %s, plan = %s,
               current_period_end = %s, cancel_at = %s, cancel_at_period_end = %s, grace_until = %s,
               updated_at = now()
           WHERE user_id = %s""",
        (
            primary.subscription_id if primary else None,
            primary.status if primary else None,
            standing.plan.value,
            primary.current_period_end if primary else None,
            primary.cancel_at if primary else None,
            primary.cancel_at_period_end if primary else False,
            standing.grace_until,
            user_id,
        ),
    )


def _sub(row: dict[str, Any]) -> StoredSubscription:
    values = {name: row[name] for name in _SUB_COLUMNS}
    values["price_ids"] = tuple(values["price_ids"])
    return StoredSubscription(**values)


def user_subscriptions(conn: Connection, user_id: int) -> list[StoredSubscription]:
    rows = conn.execute(
        f"SELECT {', '.join(_SUB_COLUMNS)} FROM stripe_subscriptions WHERE user_id = %s ORDER BY subscription_id",
        (user_id,),
    ).fetchall()
    return [_sub(r) for r in rows]


def save_subscription(conn: Connection, user_id: int, sub: StoredSubscription) -> None:
    values = {name: getattr(sub, name) for name in _SUB_COLUMNS}
    values["price_ids"] = list(sub.price_ids)
    values["user_id"] = user_id
    columns = [*_SUB_COLUMNS, "user_id"]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "subscription_id")
    conn.execute(
        f"INSERT INTO stripe_subscriptions ({', '.join(columns)}) VALUES ({', '.join(f'%({c})s' for c in columns)}) "
        f"ON CONFLICT (subscription_id) DO UPDATE SET {updates}",
        values,
    )


def delete_subscriptions(conn: Connection, user_id: int, subscription_ids: list[str]) -> None:
    if subscription_ids:
        conn.execute(
            "DELETE FROM stripe_subscriptions WHERE user_id = %s AND subscription_id = ANY(%s)",
            (user_id, subscription_ids),
        )


def record_fact(conn: Connection, event_id: str, subscription_id: str, fact: PaymentFact) -> None:
    conn.execute(
        "INSERT INTO stripe_payment_facts (event_id, subscription_id, in_good_standing, stated_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event_id, subscription_id, fact.in_good_standing, fact.stated_at),
    )


def facts_for(conn: Connection, subscription_id: str) -> list[PaymentFact]:
    rows = conn.execute(
        "SELECT in_good_standing, stated_at FROM stripe_payment_facts WHERE subscription_id = %s", (subscription_id,)
    ).fetchall()
    return [PaymentFact(bool(r["in_good_standing"]), r["stated_at"]) for r in rows]


def record_deleted_customer(conn: Connection, customer_id: str, user_id: int | None, deleted_at: datetime) -> None:
    conn.execute(
        "INSERT INTO stripe_deleted_customers (customer_id, user_id, deleted_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (customer_id) DO UPDATE SET user_id = COALESCE(stripe_deleted_customers.user_id, EXCLUDED.user_id)",
        (customer_id, user_id, deleted_at),
    )


def customer_deleted(conn: Connection, customer_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM stripe_deleted_customers WHERE customer_id = %s", (customer_id,)).fetchone()
    return row is not None


def deleted_customer_count(conn: Connection, user_id: int) -> int:
    row = conn.execute("SELECT count(*) AS n FROM stripe_deleted_customers WHERE user_id = %s", (user_id,)).fetchone()
    return int(row["n"]) if row else 0


def user_for_customer(conn: Connection, stripe_customer_id: str) -> int | None:
    row = conn.execute(
        "SELECT user_id FROM subscriptions WHERE stripe_customer_id = %s", (stripe_customer_id,)
    ).fetchone()
    return None if row is None else int(row["user_id"])


def user_exists(conn: Connection, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is not None


def user_plan(conn: Connection, user_id: int, *, lock: bool = False) -> str | None:
    """The user's plan; `lock` holds their row until the transaction ends (plan checks, changes)."""
    row = conn.execute("SELECT plan FROM users WHERE id = %s" + (" FOR UPDATE" if lock else ""), (user_id,)).fetchone()
    return None if row is None else str(row["plan"])


def set_user_plan(conn: Connection, user_id: int, plan: str) -> None:
    conn.execute("UPDATE users SET plan = %s WHERE id = %s", (plan, user_id))


def users_past_grace(conn: Connection, now: datetime) -> list[int]:
    """Users still on a paid plan whose grace period ended by `now`, ascending."""
    rows = conn.execute(
        "SELECT s.user_id FROM subscriptions s JOIN users u ON u.id = s.user_id "
        "WHERE s.grace_until <= %s AND u.plan <> 'free' ORDER BY s.user_id",
        (now,),
    ).fetchall()
    return [int(r["user_id"]) for r in rows]


def record_event(conn: Connection, provider: str, event_id: str, event_type: str) -> bool:
    """Record a webhook event id; False when it was recorded before (a duplicate delivery)."""
    first_time = conn.execute(
        "INSERT INTO processed_webhook_events (provider, event_id, event_type) VALUES (%s, %s, %s) "
        "ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id",
        (provider, event_id, event_type),
    ).fetchone()
    return first_time is not None


def insert_notification(conn: Connection, user_id: int, kind: str, title: str, body: dict[str, Any]) -> None:
    from psycopg.types.json import Jsonb

    conn.execute(
        "INSERT INTO notifications (user_id, kind, title, body) VALUES (%s, %s, %s, %s)",
        (user_id, kind, title, Jsonb(body)),
    )


class PlanUsageRecords:
    """What the plan limits are checked against, read in the caller's transaction
    (`tidewatch.billing.limits.PlanUsage` over Postgres)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def user_plan(self, user_id: int, *, lock: bool = False) -> str | None:
        return user_plan(self.conn, user_id, lock=lock)

    def portfolio_count(self, user_id: int) -> int:
        row = self.conn.execute("SELECT count(*) AS n FROM portfolios WHERE user_id = %s", (user_id,)).fetchone()
        return 0 if row is None else int(row["n"])

    def enabled_rule_count(self, user_id: int) -> int:
        return enabled_rule_count(self.conn, user_id)


# Rules as plan changes see them. A rule uses a webhook action when any entry of
# definition.actions has type "webhook".
_USES_WEBHOOK = "jsonb_path_exists(definition, '$.actions[*] ? (@.type == \"webhook\")')"


def _sync_rule_predicates(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """The rules tick's stored predicates follow rules enabled or disabled here, in the same
    transaction (the function is migration 0800's; `tidewatch.rules.repository` imports this module)."""
    if rows:
        conn.execute("SELECT rule_predicates_sync(%s::bigint[])", ([int(r["id"]) for r in rows],))


def enabled_rule_count(conn: Connection, user_id: int) -> int:
    row = conn.execute("SELECT count(*) AS n FROM rules WHERE user_id = %s AND enabled", (user_id,)).fetchone()
    return 0 if row is None else int(row["n"])


def _disable(conn: Connection, user_id: int, where: str, params: tuple[Any, ...], reason: str) -> list[int]:
    rows = conn.execute(
        f"UPDATE rules SET enabled = false, disabled_reason = %s, updated_at = now() "
        f"WHERE user_id = %s AND enabled AND ({where}) RETURNING id",
        (reason, user_id, *params),
    ).fetchall()
    _sync_rule_predicates(conn, rows)
    return sorted(int(r["id"]) for r in rows)


def disable_rules_faster_than(conn: Connection, user_id: int, min_cadence_seconds: int, reason: str) -> list[int]:
    """Disable the user's enabled rules evaluated more often than `min_cadence_seconds`; their ids."""
    return _disable(conn, user_id, "cadence_seconds < %s", (min_cadence_seconds,), reason)


def disable_rules_with_webhooks(conn: Connection, user_id: int, reason: str) -> list[int]:
    """Disable the user's enabled rules that have a webhook action; their ids."""
    return _disable(conn, user_id, _USES_WEBHOOK, (), reason)


def disable_rules_beyond(conn: Connection, user_id: int, keep: int, reason: str) -> list[int]:
    """Keep the oldest `keep` enabled rules; disable the newer ones; their ids."""
    return _disable(
        conn,
        user_id,
        "id IN (SELECT id FROM rules WHERE user_id = %s AND enabled ORDER BY created_at, id OFFSET %s)",
        (user_id, keep),
        reason,
    )


def reenable_rules(
    conn: Connection,
    user_id: int,
    *,
    reasons: tuple[str, ...],
    min_cadence_seconds: int,
    webhooks_allowed: bool,
    limit: int,
) -> list[int]:
    """Re-enable, oldest first and at most `limit`, rules disabled for one of `reasons` that meet
    the cadence (and have no webhook action unless allowed); their ids, ascending."""
    webhook_filter = "" if webhooks_allowed else f"AND NOT {_USES_WEBHOOK}"
    rows = conn.execute(
        f"""UPDATE rules SET enabled = true, disabled_reason = NULL, updated_at = now()
            WHERE id IN (
                SELECT id FROM rules
                WHERE user_id = %s AND NOT enabled AND disabled_reason = ANY(%s)
                  AND cadence_seconds >= %s {webhook_filter}
                ORDER BY created_at, id LIMIT %s)
            RETURNING id""",
        (user_id, list(reasons), min_cadence_seconds, limit),
    ).fetchall()
    _sync_rule_predicates(conn, rows)
    return sorted(int(r["id"]) for r in rows)
