import pytest

from tidewatch.billing.plans import Plan, RateLimitTier, entitlements_for


def test_free_and_pro_entitlements_are_the_documented_figures() -> None:
    # Given the two plans
    free, pro = entitlements_for("free"), entitlements_for(Plan.PRO)
    # Then each grants exactly what docs/billing.md says
    assert (free.max_portfolios, free.max_rules, free.min_rule_cadence_seconds) == (2, 3, 300)
    assert (free.rate_limit_tier, free.webhook_actions) == (RateLimitTier.FREE, False)
    assert (pro.max_portfolios, pro.max_rules, pro.min_rule_cadence_seconds) == (25, 100, 60)
    assert (pro.rate_limit_tier, pro.webhook_actions) == (RateLimitTier.PRO, True)


def test_pro_allows_at_least_everything_free_allows() -> None:
    free, pro = entitlements_for(Plan.FREE), entitlements_for(Plan.PRO)
    assert pro.max_portfolios >= free.max_portfolios
    assert pro.max_addresses_per_portfolio >= free.max_addresses_per_portfolio
    assert pro.max_rules >= free.max_rules
    assert pro.min_rule_cadence_seconds <= free.min_rule_cadence_seconds
    assert pro.requests_per_minute >= free.requests_per_minute
    assert pro.webhook_actions >= free.webhook_actions


def test_an_unknown_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="enterprise"):
        entitlements_for("enterprise")


def test_entitlements_are_immutable() -> None:
    free = entitlements_for(Plan.FREE)
    with pytest.raises(ValueError, match="frozen"):
        free.max_rules = 1000  # type: ignore[misc]
