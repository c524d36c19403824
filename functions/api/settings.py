"""Settings of the HTTP API itself (CORS, body limit, rate limits, portfolio caching).

Auth settings (site, chains, JWT keys) live in `tidewatch.identity.settings`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tidewatch.billing.plans import Plan, request_bucket


class BucketLimit(BaseModel):
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    burst: int = Field(ge=1)
    per_second: float = Field(gt=0)


def _default_plan_limits() -> dict[str, BucketLimit]:
    """Each plan's bucket from the plan table, the figures `GET /billing` shows."""
    limits = {}
    for plan in Plan:
        burst, per_second = request_bucket(plan)
        limits[plan.value] = BucketLimit(burst=burst, per_second=per_second)
    return limits


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:5173"],
        description='JSON list of dashboard origins allowed by CORS, e.g. ["https://app.example.com"].',
    )
    max_body_bytes: int = Field(default=65_536, ge=1024, description="Largest accepted request body.")
    rate_limit_plans: dict[str, BucketLimit] = Field(
        default_factory=_default_plan_limits,
        description='Per-user token bucket by plan, JSON {"free": {"burst": 60, "per_second": 1}, ...}. '
        "The default is the plan table that GET /billing shows; override it only for load tests.",
    )
    rate_limit_ip: BucketLimit = Field(
        default_factory=lambda: BucketLimit(burst=120, per_second=2.0),
        description="Per-client-IP token bucket for every rate-limited route.",
    )
    rate_limit_nonce: BucketLimit = Field(
        default_factory=lambda: BucketLimit(burst=10, per_second=0.2),
        description="Per-client-IP token bucket for nonce issuance (fails closed without Redis).",
    )
    request_deadline_seconds: float = Field(
        default=10.0,
        gt=0,
        le=25,
        description="Time budget of one request: database and RPC waits end by then (the function times out at 29 s).",
    )
    rpc_budget_seconds: float = Field(
        default=6.0,
        gt=0,
        le=25,
        description="Total time one request may spend on chain RPC reads (every chain, call and retry together).",
    )
    health_timeout_seconds: float = Field(
        default=1.5, gt=0, le=10, description="Bound of each dependency probe of GET /health."
    )
    portfolio_cache_seconds: float = Field(
        default=30.0, gt=0, description="How long a portfolio's positions are served from Redis."
    )
