"""Moving a user between plans: `users.plan`, their rules, and a notification saying what happened.

A downgrade never deletes anything. Rules the new plan does not allow are disabled
(`enabled = false`, `disabled_reason` says why): first those using a capability the plan lacks
(a faster cadence, webhook actions), then, if still too many, the newest ones beyond the plan's
rule count. An upgrade re-enables, oldest first, the rules a downgrade disabled, as far as the new
plan allows. Portfolios beyond the limit are kept (read-only in effect: no new ones can be added).
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from pydantic import BaseModel

from tidewatch.billing.plans import Entitlements, Plan, entitlements_for
from tidewatch.db import Connection

# disabled_reason values written by billing; an upgrade re-enables only these.
REASON_RULE_LIMIT = "plan-rule-limit"
REASON_CADENCE = "plan-cadence"
REASON_WEBHOOK_ACTIONS = "plan-webhook-actions"
PLAN_REASONS = (REASON_RULE_LIMIT, REASON_CADENCE, REASON_WEBHOOK_ACTIONS)

# A rule uses a webhook action when any entry of definition.actions has type "webhook".
_USES_WEBHOOK = "jsonb_path_exists(definition, '$.actions[*] ? (@.type == \"webhook\")')"

NOTIFICATION_DOWNGRADED = "billing.plan_downgraded"
NOTIFICATION_UPGRADED = "billing.plan_upgraded"
NOTIFICATION_PAYMENT_FAILED = "billing.payment_failed"


class PlanChange(BaseModel):
    user_id: int
    old_plan: Plan
    new_plan: Plan
    disabled_rule_ids: list[int] = []
    reenabled_rule_ids: list[int] = []


def _disable(conn: Connection, user_id: int, where: str, params: tuple[Any, ...], reason: str) -> list[int]:
    rows = conn.execute(
        f"UPDATE rules SET enabled = false, disabled_reason = %s, updated_at = now() "
        f"WHERE user_id = %s AND enabled AND ({where}) RETURNING id",
        (reason, user_id, *params),
    ).fetchall()
    return sorted(int(r["id"]) for r in rows)


def disable_excess_rules(conn: Connection, user_id: int, allowed: Entitlements) -> list[int]:
    """Disable the user's rules that `allowed` does not permit; the ids disabled, ascending."""
    disabled = _disable(conn, user_id, "cadence_seconds < %s", (allowed.min_rule_cadence_seconds,), REASON_CADENCE)
    if not allowed.webhook_actions:
        disabled += _disable(conn, user_id, _USES_WEBHOOK, (), REASON_WEBHOOK_ACTIONS)
    # Keep the oldest `max_rules` enabled rules; the newest beyond them are disabled.
    disabled += _disable(
        conn,
        user_id,
        "id IN (SELECT id FROM rules WHERE user_id = %s AND enabled ORDER BY created_at, id OFFSET %s)",
        (user_id, allowed.max_rules),
        REASON_RULE_LIMIT,
    )
    return sorted(disabled)


def reenable_rules(conn: Connection, user_id: int, allowed: Entitlements) -> list[int]:
    """Re-enable, oldest first, rules billing disabled that `allowed` now permits."""
    row = conn.execute("SELECT count(*) AS n FROM rules WHERE user_id = %s AND enabled", (user_id,)).fetchone()
    room = allowed.max_rules - int(row["n"] if row else 0)
    if room <= 0:
        return []
    webhook_filter = "" if allowed.webhook_actions else f"AND NOT {_USES_WEBHOOK}"
    rows = conn.execute(
        f"""UPDATE rules SET enabled = true, disabled_reason = NULL, updated_at = now()
            WHERE id IN (
                SELECT id FROM rules
                WHERE user_id = %s AND NOT enabled AND disabled_reason = ANY(%s)
                  AND cadence_seconds >= %s {webhook_filter}
                ORDER BY created_at, id LIMIT %s)
            RETURNING id""",
        (user_id, list(PLAN_REASONS), allowed.min_rule_cadence_seconds, room),
    ).fetchall()
    return sorted(int(r["id"]) for r in rows)


def notify(conn: Connection, user_id: int, kind: str, title: str, body: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO notifications (user_id, kind, title, body) VALUES (%s, %s, %s, %s)",
        (user_id, kind, title, Jsonb(body)),
    )


def change_plan(conn: Connection, user_id: int, new_plan: Plan, *, reason: str) -> PlanChange | None:
    """Set the user's plan inside the caller's transaction; None when it was already `new_plan`."""
    row = conn.execute("SELECT plan FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone()
    if row is None:
        return None
    old_plan = Plan(row["plan"])
    if old_plan == new_plan:
        return None
    conn.execute("UPDATE users SET plan = %s WHERE id = %s", (new_plan.value, user_id))
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
