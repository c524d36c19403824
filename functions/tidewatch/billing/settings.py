"""Billing settings (TIDEWATCH_ prefix). Secrets are given directly (local run, tests) or as a
Secrets Manager ARN / `ssm:/path` reference that the api's billing wiring resolves at cold start.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"


class BillingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    stripe_api_key: SecretStr | None = Field(default=None, description="Stripe secret key (sk_...), local run.")
    stripe_api_key_secret_arn: str | None = Field(
        default=None, description="Secrets Manager ARN or `ssm:/path` holding the Stripe secret key."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="Webhook endpoint signing secret (whsec_...), local run."
    )
    stripe_webhook_secret_arn: str | None = Field(
        default=None, description="Secrets Manager ARN or `ssm:/path` holding the webhook signing secret."
    )
    stripe_price_pro: str = Field(
        default="price_tidewatch_pro_monthly", description="Stripe Price id of Pro (what checkout sells)."
    )
    stripe_pro_extra_price_ids: list[str] = Field(
        default_factory=list,
        description="Further Price ids that also grant Pro (e.g. a yearly or a former price); JSON list.",
    )
    stripe_api_base: str = Field(
        default=DEFAULT_STRIPE_API_BASE, description="Stripe API base URL; point it at a local stand-in in tests."
    )
    stripe_timeout_seconds: float = Field(default=10.0, gt=0, le=30, description="Per-request timeout to Stripe.")
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5, description="Retries (idempotent) to Stripe.")
    stripe_webhook_tolerance_seconds: int = Field(
        default=300, ge=1, le=900, description="Max age (and future skew) of a webhook's signed timestamp."
    )
    billing_success_url: str = Field(
        default="http://localhost:5173/billing?checkout=success", description="Checkout success redirect."
    )
    billing_cancel_url: str = Field(
        default="http://localhost:5173/billing?checkout=cancel", description="Checkout cancel redirect."
    )
    billing_portal_return_url: str = Field(
        default="http://localhost:5173/billing", description="Where the customer portal returns to."
    )
    billing_grace_days: int = Field(
        default=7, ge=0, le=60, description="Days Pro stays on after a failed payment before the downgrade."
    )

    @property
    def pro_price_ids(self) -> frozenset[str]:
        """The exact Price ids that grant Pro; a subscription with any other price grants nothing."""
        return frozenset({self.stripe_price_pro, *self.stripe_pro_extra_price_ids})

    @model_validator(mode="after")
    def _no_trailing_slash(self) -> BillingSettings:
        if self.stripe_api_base.endswith("/"):
            object.__setattr__(self, "stripe_api_base", self.stripe_api_base.rstrip("/"))
        return self
