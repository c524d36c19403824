"""Plans and the entitlements each one grants: the single table the whole product reads.

Pure and import-light on purpose: the api (portfolio and rule limits, its per-user rate limit),
the rules function (cadence, webhook actions) and billing (downgrades, `GET /billing`) all ask
`entitlements_for(plan)`, so what a user is shown is what is enforced. The figures are documented
in docs/billing.md; change both together.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"


class RateLimitTier(StrEnum):
    FREE = "free"
    PRO = "pro"


class Entitlements(BaseModel):
    """What a plan allows. Limits are inclusive maxima; cadence is the fastest allowed."""

    model_config = ConfigDict(frozen=True)

    plan: Plan
    max_portfolios: int = Field(ge=0, description="Portfolios a user may own.")
    max_addresses_per_portfolio: int = Field(ge=1, description="Wallet addresses in one portfolio.")
    max_rules: int = Field(ge=0, description="Enabled automation rules a user may have.")
    min_rule_cadence_seconds: int = Field(ge=60, description="Fastest rule evaluation cadence allowed.")
    rate_limit_tier: RateLimitTier = Field(description="Token-bucket tier the API applies per user.")
    requests_per_minute: int = Field(
        ge=1, description="Sustained API requests per minute; up to a minute's worth may come at once."
    )
    webhook_actions: bool = Field(description="Whether rules may use outbound webhook actions.")


_ENTITLEMENTS: dict[Plan, Entitlements] = {
    Plan.FREE: Entitlements(
        plan=Plan.FREE,
        max_portfolios=2,
        max_addresses_per_portfolio=5,
        max_rules=3,
        min_rule_cadence_seconds=300,
        rate_limit_tier=RateLimitTier.FREE,
        requests_per_minute=60,
        webhook_actions=False,
    ),
    Plan.PRO: Entitlements(
        plan=Plan.PRO,
        max_portfolios=25,
        max_addresses_per_portfolio=50,
        max_rules=100,
        min_rule_cadence_seconds=60,
        rate_limit_tier=RateLimitTier.PRO,
        requests_per_minute=300,
        webhook_actions=True,
    ),
}


def entitlements_for(plan: Plan | str) -> Entitlements:
    """The entitlements of `plan` ('free' / 'pro'); an unknown plan name raises ValueError."""
    return _ENTITLEMENTS[Plan(plan)]


def request_bucket(plan: Plan | str) -> tuple[int, float]:
    """The per-user token bucket the API enforces for `plan`: (burst, refill per second).

    A minute's worth of requests at once, refilled at `requests_per_minute`.
    """
    per_minute = entitlements_for(plan).requests_per_minute
    return per_minute, per_minute / 60
