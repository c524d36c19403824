"""Moving a user between plans: `users.plan`, their rules, and a notification saying what happened.

A downgrade never deletes anything. Rules the new plan does not allow are disabled
(`enabled = false`, `disabled_reason` says why): first those using a capability the plan lacks
(a faster cadence, webhook actions), then, if still too many, the newest ones beyond the plan's
rule count. An upgrade re-enables, oldest first, the rules a downgrade disabled, as far as the new
plan allows. Portfolios beyond the limit are kept (read-only in effect: no new ones can be added).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tidewatch.billing import repository
from tidewatch.billing.plans import Entitlements, Plan, entitlements_for
from tidewatch.db import Connection

# disabled_reason values written by billing; an upgrade re-enables only these.
REASON_RULE_LIMIT = "plan-rule-limit"
REASON_CADENCE = "plan-cadence"
REASON_WEBHOOK_ACTIONS = "plan-webhook-actions"
PLAN_REASONS = (REASON_RULE_LIMIT, REASON_CADENCE, REASON_WEBHOOK_ACTIONS)

NOTIFICATION_DOWNGRADED = "billing.plan_downgraded"
NOTIFICATION_UPGRADED = "billing.plan_upgraded"
NOTIFICATION_PAYMENT_FAILED = "billing.payment_failed"


class PlanChange(BaseModel):
    user_id: int
    old_plan: Plan
    new_plan: Plan
    disabled_rule_ids: list[int] = []
    reenabled_rule_ids: list[int] = []


def disable_excess_rules(conn: Connection, user_id: int, allowed: Entitlements) -> list[int]:
    """Disable the user's rules that `allowed` does not permit; the ids disabled, ascending."""
    disabled = repository.disable_rules_faster_than(conn, user_id, allowed.min_rule_cadence_seconds, REASON_CADENCE)
    if not allowed.webhook_actions:
        disabled += repository.disable_rules_with_webhooks(conn, user_id, REASON_WEBHOOK_ACTIONS)
    # Keep the oldest `max_rules` enabled rules; the newest beyond them are disabled.
    disabled += repository.disable_rules_beyond(conn, user_id, allowed.max_rules, REASON_RULE_LIMIT)
    return sorted(disabled)


def reenable_rules(conn: Connection, user_id: int, allowed: Entitlements) -> list[int]:
    """Re-enable, oldest first, rules billing disabled that `allowed` now permits."""
    room = allowed.max_rules - repository.enabled_rule_count(conn, user_id)
    if room <= 0:
        return []
    return repository.reenable_rules(
        conn,
        user_id,
        reasons=PLAN_REASONS,
        min_cadence_seconds=allowed.min_rule_cadence_seconds,
        webhooks_allowed=allowed.webhook_actions,
        limit=room,
    )


def notify(conn: Connection, user_id: int, kind: str, title: str, body: dict[str, Any]) -> None:
    repository.insert_notification(conn, user_id, kind, title, body)


def change_plan(conn: Connection, user_id: int, new_plan: Plan, *, reason: str) -> PlanChange | None:
    """Set the user's plan inside the caller's transaction; None when it was already `new_plan`."""
    current = repository.user_plan(conn, user_id, lock=True)
    if current is None:
        return None
    old_plan = Plan(current)
    if old_plan == new_plan:
        return None
    repository.set_user_plan(conn, user_id, new_plan.value)
    allowed = entitlements_for(new_plan)
    change = PlanChange(user_id=user_id, old_plan=old_plan, new_plan=new_plan)
    if new_plan == Plan.FREE:
        change.disabled_rule_ids = disable_excess_rules(conn, user_id, allowed)
        notify(
            conn,
            user_id,
            NOTIFICATION_DOWNGRADED,
            "Your plan is now Free",
            {
                "old_plan": old_plan.value,
                "new_plan": new_plan.value,
                "reason": reason,
                "disabled_rule_ids": change.disabled_rule_ids,
                "max_rules": allowed.max_rules,
                "max_portfolios": allowed.max_portfolios,
            },
        )
    else:
        change.reenabled_rule_ids = reenable_rules(conn, user_id, allowed)
        notify(
            conn,
            user_id,
            NOTIFICATION_UPGRADED,
            "Welcome to Pro",
            {
                "old_plan": old_plan.value,
                "new_plan": new_plan.value,
                "reason": reason,
                "reenabled_rule_ids": change.reenabled_rule_ids,
            },
        )
    return change
