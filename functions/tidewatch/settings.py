"""Settings, one pydantic-settings model per concern: the only code that reads the environment.

Handlers build the models they need at cold start (so a misconfigured function fails at once, with
the variable named) and pass plain values down. Secrets may be given directly (local run) or as a
Secrets Manager / SSM reference resolved through `tidewatch.secrets`.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_COMMON = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)


class DatabaseSettings(BaseSettings):
    model_config = _COMMON

    database_url: str = Field(
        default="postgresql://127.0.0.1:5432/test",
        description="libpq URL of PostgreSQL (RDS Proxy endpoint in AWS).",
    )
    database_secret_arn: str | None = Field(
        default=None,
        description="Secrets Manager secret with username/password/host/port/dbname; overrides the URL.",
    )
    database_host: str | None = Field(
        default=None, description="Overrides the secret's host, e.g. the RDS Proxy endpoint in AWS."
    )
    database_pool_size: int = Field(default=1, ge=1, le=64, description="Connections per process.")
    database_connect_timeout_seconds: float = Field(
        default=3.0, gt=0, le=30, description="libpq connect_timeout, and the wait for a pooled connection."
    )
    database_statement_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        le=900,
        description="Server statement_timeout of every session (the client gives up 1 s later); migrations lift it.",
    )


class RedisSettings(BaseSettings):
    model_config = _COMMON

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL (rediss:// for TLS).")
    redis_auth_secret_arn: str | None = Field(default=None, description="Secret holding the Redis AUTH token.")
    redis_timeout_seconds: float = Field(
        default=0.5, gt=0, le=10, description="Socket timeout: a slow cache must not make the API slow."
    )


class ChainSettings(BaseSettings):
    model_config = _COMMON

    rpc_urls: dict[int, list[str]] = Field(
        default_factory=dict,
        description='JSON map of chain id to RPC URLs in failover order, e.g. {"1": ["https://..."]}.',
    )
    rpc_urls_secret_arn: str | None = Field(default=None, description="Secret holding the same JSON map.")
    registry: str = Field(
        default="mainnet",
        description="'mainnet' for the real protocol addresses, or a path to a registry JSON (devnet).",
    )
    rpc_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="Per JSON-RPC request.")


class FunctionsSettings(BaseSettings):
    """How functions reach each other: Lambda names in AWS, in-process locally."""

    model_config = _COMMON

    invoke_mode: str = Field(
        default="local",
        pattern="^(local|lambda)$",
        description="How risk/wallet are called: `local` (in-process) or `lambda` (synchronous invoke).",
    )
    risk_function_name: str = Field(default="tidewatch-risk", description="Risk function name for `lambda` mode.")
    wallet_function_name: str = Field(default="tidewatch-wallet", description="Wallet function name for `lambda` mode.")
    event_bus_name: str = Field(default="default", description="EventBridge bus for market.changed events.")
    publish_mode: str = Field(
        default="local",
        pattern="^(local|eventbridge)$",
        description="market.changed events: `local` (Redis pub/sub, the local event bus) or `eventbridge`.",
    )
