"""What the plan allows changes with billing: limits read `users.plan`, which webhooks move."""

from typing import Any

import pytest
from psycopg.types.json import Jsonb

from tidewatch.billing.limits import ensure_can_add_portfolio, ensure_rule_allowed
from tidewatch.billing.repository import PlanUsageRecords
from tidewatch.errors import PaymentRequired
from tidewatch_local.stripe_events import subscription

from .conftest import T0, Harness

pytestmark = pytest.mark.integration


def add_portfolio(h: Harness) -> None:
    with h.db.transaction() as conn:
        ensure_can_add_portfolio(PlanUsageRecords(conn), h.user.id)
        conn.execute("INSERT INTO portfolios (user_id, name) VALUES (%s, 'p')", (h.user.id,))


def add_rule(h: Harness, *, cadence: int = 300, webhook: bool = False) -> None:
    with h.db.transaction() as conn:
        ensure_rule_allowed(PlanUsageRecords(conn), h.user.id, cadence_seconds=cadence, uses_webhook=webhook)
        actions = [{"type": "webhook"}] if webhook else [{"type": "notify"}]
        conn.execute(
            "INSERT INTO rules (user_id, name, definition, cadence_seconds) VALUES (%s, 'r', %s, %s)",
            (h.user.id, Jsonb({"actions": actions}), cadence),
        )


def refusal(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(PaymentRequired) as caught:
        fn(*args, **kwargs)
    return caught.value.to_problem()


def test_free_limits_are_enforced_then_lifted_by_a_pro_subscription(harness: Harness) -> None:
    # Given a Free user at their portfolio and rule limits
    add_portfolio(harness)
    add_portfolio(harness)
    for _ in range(3):
        add_rule(harness)
    # Then one more of either, a fast cadence and a webhook action are refused with 402 plan-limit
    assert refusal(add_portfolio, harness)["limit"] == "max_portfolios"
    assert refusal(add_rule, harness)["limit"] == "max_rules"
    problem = refusal(add_rule, harness, cadence=60)
    assert (problem["status"], problem["limit"], problem["allowed"]) == (402, "min_rule_cadence_seconds", 300)
    assert refusal(add_rule, harness, webhook=True)["limit"] == "webhook_actions"
    assert harness.client.get("/billing").json()["entitlements"]["max_portfolios"] == 2
    # When a signed webhook reports an active Pro subscription
    sub = subscription(sub_id="sub_1", customer="cus_1", status="active", created=T0 - 100, user_id=harness.user.id)
    assert harness.post_event("customer.subscription.created", sub, created=T0 - 90).status_code == 200
    # Then the same requests are allowed
    add_portfolio(harness)
    add_rule(harness)
    add_rule(harness, cadence=60)
    add_rule(harness, webhook=True)
    assert harness.one("SELECT count(*) FROM rules WHERE user_id = %s AND enabled", harness.user.id) == 6
    assert harness.client.get("/billing").json()["entitlements"]["max_portfolios"] == 25
