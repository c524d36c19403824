"""Entitlement checks for the services that create things (portfolios, rules).

The checks read the user's plan and current counts through a `PlanUsage` (Postgres:
`tidewatch.billing.repository.PlanUsageRecords`). Run them inside the same transaction as the
insert: the plan is read with the user row locked, so two concurrent creations cannot both squeeze
under the limit. A refusal is a 402 `plan-limit` problem naming the limit.
"""

from __future__ import annotations

from typing import Protocol

from tidewatch.billing.plans import Entitlements, entitlements_for
from tidewatch.errors import PaymentRequired
from tidewatch.identity.errors import InvalidToken


class PlanUsage(Protocol):
    """The user's plan and what they already have, as the plan limits count it."""

    def user_plan(self, user_id: int, *, lock: bool = False) -> str | None:
        """The plan name; `lock` holds the user until the transaction ends. None: no such user."""
        ...

    def portfolio_count(self, user_id: int) -> int: ...

    def enabled_rule_count(self, user_id: int) -> int: ...


def user_entitlements(usage: PlanUsage, user_id: int, *, lock: bool = False) -> Entitlements:
    plan = usage.user_plan(user_id, lock=lock)
    if plan is None:  # deleted while their access token was still accepted
        raise InvalidToken("the account this token was issued for no longer exists")
    return entitlements_for(plan)


def ensure_can_add_portfolio(usage: PlanUsage, user_id: int) -> Entitlements:
    return ensure_portfolio_allowed(usage, user_id, addresses=0, new=True)


def ensure_portfolio_allowed(usage: PlanUsage, user_id: int, *, addresses: int, new: bool) -> Entitlements:
    """Refuse a portfolio the plan does not allow: one more portfolio (`new`), or `addresses`
    wallet addresses in it (on create, and on a PATCH that replaces the wallets)."""
    allowed = user_entitlements(usage, user_id, lock=True)
    if new and usage.portfolio_count(user_id) >= allowed.max_portfolios:
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
    usage: PlanUsage, user_id: int, *, cadence_seconds: int, uses_webhook: bool, enabling_new: bool = True
) -> Entitlements:
    """Refuse a rule the plan does not allow; `enabling_new` counts it against the rule limit."""
    allowed = user_entitlements(usage, user_id, lock=True)
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
    if enabling_new and usage.enabled_rule_count(user_id) >= allowed.max_rules:
        raise PaymentRequired(
            f"the {allowed.plan.value} plan allows {allowed.max_rules} enabled rules",
            limit="max_rules",
            allowed=allowed.max_rules,
        )
    return allowed
