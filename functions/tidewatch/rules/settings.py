"""Settings of the rules engine and its actions (prefix TIDEWATCH_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RulesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    webhook_signing_key: str = Field(
        default="dev-only-webhook-signing-key-change-me",
        min_length=16,
        description="Master key from which each rule's webhook HMAC secret is derived.",
    )
    webhook_signing_key_secret_arn: str | None = Field(
        default=None, description="Secrets Manager / ssm: reference holding the webhook signing key."
    )
    webhook_max_attempts: int = Field(default=6, ge=1, le=20, description="Webhook attempts before giving up.")
    webhook_backoff_seconds: float = Field(default=30.0, gt=0, description="First retry delay; doubles each time.")
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30, description="Per webhook request.")
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Allow webhook URLs resolving to private/loopback addresses, never the metadata service "
        "(local run only).",
    )
    action_attempts: int = Field(default=3, ge=1, le=10, description="In-tick tries per action (notify/prepare).")
    action_backoff_seconds: float = Field(
        default=0.2, ge=0, le=10, description="First pause between in-tick action retries (doubling)."
    )
    action_workers: int = Field(default=8, ge=1, le=64, description="Threads running actions in parallel.")
    shard_max_rules: int = Field(
        default=100_000, ge=1, le=1_000_000, description="Most rules one shard of a rules tick evaluates."
    )
    shard_queue_url: str | None = Field(
        default=None, description="SQS queue of rules-tick shards (AWS); unset: shards run in-process."
    )
    shard_workers: int = Field(
        default=4, ge=1, le=64, description="Shards run at once when they run in-process (local run, tests)."
    )


def signing_key(settings: RulesSettings) -> bytes:
    """The webhook master key: from its secret when one is configured, else the setting itself.

    In the core because the api (rule dry runs and webhook secrets shown to their owner) and the
    rules function both need it, and a function package never imports another one.
    """
    if settings.webhook_signing_key_secret_arn:
        from tidewatch.secrets import fetch_secret

        return fetch_secret(settings.webhook_signing_key_secret_arn).encode()
    return settings.webhook_signing_key.encode()
