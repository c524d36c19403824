"""Billing rows in PostgreSQL: the `subscriptions` row of a user, locked while it changes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from tidewatch.billing.subscription_state import SubscriptionState
from tidewatch.db import Connection

_COLUMNS = [f.name for f in fields(SubscriptionState)]


def _state(row: dict[str, Any]) -> SubscriptionState:
    return SubscriptionState(**{name: row[name] for name in _COLUMNS})


def lock_subscription(conn: Connection, user_id: int) -> SubscriptionState:
    """The user's subscription row, created empty if missing and locked until the transaction ends.

    The lock serialises everything that changes one user's billing (concurrent webhooks, a
    checkout racing a webhook), so each change reads the state the previous one wrote.
    """
    conn.execute("INSERT INTO subscriptions (user_id) VALUES (%s) ON CONFLICT (user_id) DO NOTHING", (user_id,))
    row = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM subscriptions WHERE user_id = %s FOR UPDATE",
        (user_id,),
    ).fetchone()
    assert row is not None
    return _state(row)


def read_subscription(conn: Connection, user_id: int) -> SubscriptionState | None:
    row = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM subscriptions WHERE user_id = %s",
        (user_id,),
    ).fetchone()
    return None if row is None else _state(row)


def save_subscription(conn: Connection, state: SubscriptionState, plan: str) -> None:
    assignments = ", ".join(f"{name} = %({name})s" for name in _COLUMNS if name != "user_id")
    params = {name: getattr(state, name) for name in _COLUMNS}
    params["plan"] = plan
    conn.execute(
        f"UPDATE subscriptions SET {assignments}, plan = %(plan)s, updated_at = now() WHERE user_id = %(user_id)s",
        params,
    )


def user_for_customer(conn: Connection, stripe_customer_id: str) -> int | None:
    row = conn.execute(
        "SELECT user_id FROM subscriptions WHERE stripe_customer_id = %s", (stripe_customer_id,)
    ).fetchone()
    return None if row is None else int(row["user_id"])


def user_for_subscription(conn: Connection, stripe_subscription_id: str) -> int | None:
    row = conn.execute(
        "SELECT user_id FROM subscriptions WHERE stripe_subscription_id = %s", (stripe_subscription_id,)
    ).fetchone()
    return None if row is None else int(row["user_id"])


def user_exists(conn: Connection, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is not None


def user_plan(conn: Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT plan FROM users WHERE id = %s", (user_id,)).fetchone()
    return None if row is None else str(row["plan"])
