"""Entitlement checks for the routers that create things (portfolios, rules).

Call them inside the same transaction as the insert, after locking the user row
(`SELECT ... FROM users WHERE id = %s FOR UPDATE`, done here), so two concurrent creations cannot
both squeeze under the limit. A refusal is a 402 `plan-limit` problem naming the limit.
"""

from __future__ import annotations

from tidewatch.billing.plans import Entitlements, entitlements_for
from tidewatch.db import Connection
from tidewatch.errors import PaymentRequired
from tidewatch.identity.errors import InvalidToken


def user_entitlements(conn: Connection, user_id: int, *, lock: bool = False) -> Entitlements:
    row = conn.execute("SELECT plan FROM users WHERE id = %s" + (" FOR UPDATE" if lock else ""), (user_id,)).fetchone()
    if row is None:  # deleted while their access token was still accepted
        raise InvalidToken("the account this token was issued for no longer exists")
    return entitlements_for(row["plan"])


def ensure_can_add_portfolio(conn: Connection, user_id: int) -> Entitlements:
    return ensure_portfolio_allowed(conn, user_id, addresses=0, new=True)


def ensure_portfolio_allowed(conn: Connection, user_id: int, *, addresses: int, new: bool) -> Entitlements:
    """Refuse a portfolio the plan does not allow: one more portfolio (`new`), or `addresses`
    wallet addresses in it (on create, and on a PATCH that replaces the wallets)."""
    allowed = user_entitlements(conn, user_id, lock=True)
    if new:
        row = conn.execute("SELECT count(*) AS n FROM portfolios WHERE user_id = %s", (user_id,)).fetchone()
        if row is not None and int(row["n"]) >= allowed.max_portfolios:
            raise PaymentRequired(
                f"the {allowed.plan.value} plan allows {allowed.max_portfolios} portfolios",
                limit="max_portfolios",
                allowed=allowed.max_portfolios,
            )
    if addresses > allowed.max_addresses_per_portfolio:
        raise PaymentRequired(
            f"the {allowed.plan.value} plan allows {allowed.max_addresses_per_portfolio} addresses per portfolio",
            limit="max_addresses_per_portfolio",
            allowed=allowed.max_addresses_per_portfolio,
        )
    return allowed


def ensure_rule_allowed(
    conn: Connection, user_id: int, *, cadence_seconds: int, uses_webhook: bool, enabling_new: bool = True
) -> Entitlements:
    """Refuse a rule the plan does not allow; `enabling_new` counts it against the rule limit."""
    allowed = user_entitlements(conn, user_id, lock=True)
    if cadence_seconds < allowed.min_rule_cadence_seconds:
        raise PaymentRequired(
            f"the {allowed.plan.value} plan evaluates rules at most every {allowed.min_rule_cadence_seconds} s",
            limit="min_rule_cadence_seconds",
            allowed=allowed.min_rule_cadence_seconds,
        )
    if uses_webhook and not allowed.webhook_actions:
        raise PaymentRequired(
            f"webhook actions are not part of the {allowed.plan.value} plan", limit="webhook_actions", allowed=False
        )
    if enabling_new:
        row = conn.execute("SELECT count(*) AS n FROM rules WHERE user_id = %s AND enabled", (user_id,)).fetchone()
        if row is not None and int(row["n"]) >= allowed.max_rules:
            raise PaymentRequired(
                f"the {allowed.plan.value} plan allows {allowed.max_rules} enabled rules",
                limit="max_rules",
                allowed=allowed.max_rules,
            )
    return allowed
