"""What `GET /billing` shows a user is what the API enforces on them, for every plan."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.types.json import Jsonb

from tidewatch.billing.limits import ensure_portfolio_allowed, ensure_rule_allowed
from tidewatch.billing.plans import Plan
from tidewatch.billing.repository import PlanUsageRecords
from tidewatch.errors import PaymentRequired

from .conftest import Harness, access_token

pytestmark = pytest.mark.integration


def refused(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    with pytest.raises(PaymentRequired) as caught:
        fn(*args, **kwargs)
    problem = caught.value.to_problem()
    return problem["limit"], problem["allowed"]


@pytest.mark.parametrize("plan", list(Plan))
def test_the_shown_entitlements_are_the_enforced_ones(harness: Harness, plan: Plan) -> None:
    # Given a user on `plan`, signed in with a token saying so
    user = harness.user.id
    with harness.db.connection() as conn:
        conn.execute("UPDATE users SET plan = %s WHERE id = %s", (plan.value, user))
    app: Any = harness.client.app
    harness.client.headers["Authorization"] = f"Bearer {access_token(app, harness.user, plan.value)}"
    # When they look at their plan
    response = harness.client.get("/billing")
    shown = response.json()["entitlements"]
    assert response.json()["plan"] == plan.value
    # Then the per-user rate limit is the shown requests per minute: a minute's worth at once,
    # refilled at that rate
    assert int(response.headers["ratelimit-limit"]) == shown["requests_per_minute"]
    bucket = app.state.services.plan_bucket(plan.value)
    assert (bucket.burst, bucket.per_second * 60) == (shown["requests_per_minute"], shown["requests_per_minute"])
    # And the rule limits are the shown ones
    with harness.db.transaction() as conn:
        usage = PlanUsageRecords(conn)
        fastest = shown["min_rule_cadence_seconds"]
        ensure_rule_allowed(usage, user, cadence_seconds=fastest, uses_webhook=False)
        assert refused(ensure_rule_allowed, usage, user, cadence_seconds=fastest - 60, uses_webhook=False) == (
            "min_rule_cadence_seconds",
            fastest,
        )
        if shown["webhook_actions"]:
            ensure_rule_allowed(usage, user, cadence_seconds=fastest, uses_webhook=True)
        else:
            assert refused(ensure_rule_allowed, usage, user, cadence_seconds=fastest, uses_webhook=True)[0] == (
                "webhook_actions"
            )
        for _ in range(shown["max_rules"]):
            ensure_rule_allowed(usage, user, cadence_seconds=fastest, uses_webhook=False)
            conn.execute(
                "INSERT INTO rules (user_id, name, definition, cadence_seconds) VALUES (%s, 'r', %s, %s)",
                (user, Jsonb({"actions": [{"type": "notify"}]}), fastest),
            )
        assert refused(ensure_rule_allowed, usage, user, cadence_seconds=fastest, uses_webhook=False) == (
            "max_rules",
            shown["max_rules"],
        )
        # And so are the portfolio limits
        most = shown["max_addresses_per_portfolio"]
        ensure_portfolio_allowed(usage, user, addresses=most, new=False)
        assert refused(ensure_portfolio_allowed, usage, user, addresses=most + 1, new=False) == (
            "max_addresses_per_portfolio",
            most,
        )
        for _ in range(shown["max_portfolios"]):
            ensure_portfolio_allowed(usage, user, addresses=0, new=True)
            conn.execute("INSERT INTO portfolios (user_id, name) VALUES (%s, 'p')", (user,))
        assert refused(ensure_portfolio_allowed, usage, user, addresses=0, new=True) == (
            "max_portfolios",
            shown["max_portfolios"],
        )
