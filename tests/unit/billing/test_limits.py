"""The plan checks over an in-memory usage: each plan's figures, as `GET /billing` shows them, are
the boundaries enforced (the last allowed, the first refused)."""

from __future__ import annotations

from typing import Any

import pytest

from api.settings import ApiSettings
from tests.fakes.billing import InMemoryPlanUsage
from tidewatch.billing.limits import ensure_portfolio_allowed, ensure_rule_allowed
from tidewatch.billing.plans import Plan, entitlements_for
from tidewatch.errors import PaymentRequired
from tidewatch.identity.errors import InvalidToken

USER = 7


def refused(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    with pytest.raises(PaymentRequired) as caught:
        fn(*args, **kwargs)
    problem = caught.value.to_problem()
    assert problem["status"] == 402
    return problem["limit"], problem["allowed"]


@pytest.mark.parametrize("plan", list(Plan))
def test_rule_limits_are_the_plans_figures(plan: Plan) -> None:
    shown = entitlements_for(plan)
    usage = InMemoryPlanUsage(plans={USER: plan.value}, enabled_rules={USER: shown.max_rules - 1})
    fastest = shown.min_rule_cadence_seconds
    # The last rule the plan allows passes, the next is refused naming the limit
    ensure_rule_allowed(usage, USER, cadence_seconds=fastest, uses_webhook=False)
    usage.enabled_rules[USER] += 1
    assert refused(ensure_rule_allowed, usage, USER, cadence_seconds=fastest, uses_webhook=False) == (
        "max_rules",
        shown.max_rules,
    )
    # A rule that is not enabled is not counted
    ensure_rule_allowed(usage, USER, cadence_seconds=fastest, uses_webhook=False, enabling_new=False)
    # The cadence bound is the plan's
    assert refused(ensure_rule_allowed, usage, USER, cadence_seconds=fastest - 60, uses_webhook=False) == (
        "min_rule_cadence_seconds",
        fastest,
    )
    # Webhook actions only where the plan has them
    if shown.webhook_actions:
        ensure_rule_allowed(usage, USER, cadence_seconds=fastest, uses_webhook=True, enabling_new=False)
    else:
        assert refused(
            ensure_rule_allowed, usage, USER, cadence_seconds=fastest, uses_webhook=True, enabling_new=False
        ) == ("webhook_actions", False)


@pytest.mark.parametrize("plan", list(Plan))
def test_portfolio_limits_are_the_plans_figures(plan: Plan) -> None:
    shown = entitlements_for(plan)
    usage = InMemoryPlanUsage(plans={USER: plan.value}, portfolios={USER: shown.max_portfolios - 1})
    most = shown.max_addresses_per_portfolio
    ensure_portfolio_allowed(usage, USER, addresses=most, new=True)
    assert refused(ensure_portfolio_allowed, usage, USER, addresses=most + 1, new=False) == (
        "max_addresses_per_portfolio",
        most,
    )
    usage.portfolios[USER] += 1
    assert refused(ensure_portfolio_allowed, usage, USER, addresses=0, new=True) == (
        "max_portfolios",
        shown.max_portfolios,
    )


@pytest.mark.parametrize("plan", list(Plan))
def test_the_api_rate_limit_by_default_is_the_plans_requests_per_minute(plan: Plan) -> None:
    bucket = ApiSettings().rate_limit_plans[plan.value]
    per_minute = entitlements_for(plan).requests_per_minute
    assert (bucket.burst, bucket.per_second * 60) == (per_minute, per_minute)


def test_a_user_who_no_longer_exists_is_refused_as_an_invalid_token() -> None:
    with pytest.raises(InvalidToken):
        ensure_rule_allowed(InMemoryPlanUsage(), USER, cadence_seconds=300, uses_webhook=False)
