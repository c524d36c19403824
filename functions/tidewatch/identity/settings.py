"""Auth settings: the site users sign in to, the chains accepted, JWT keys and token lifetimes."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    site_domain: str = Field(
        default="localhost:5173",
        description="EIP-4361 `domain` a sign-in message must name (host[:port] of the dashboard).",
    )
    site_uri: str = Field(
        default="http://localhost:5173",
        description="EIP-4361 `URI` a sign-in message must name (the dashboard origin, or a URI under it).",
    )
    supported_chain_ids: list[int] = Field(
        default_factory=lambda: [1, 8453], description="JSON list of chain ids accepted at sign-in."
    )
    jwt_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="JSON {kid: secret} of HS256 keys (local run). Every key verifies; the active one signs.",
    )
    jwt_keys_secret_arn: str | None = Field(
        default=None, description="Secrets Manager ARN (or ssm:/path) of the same JSON {kid: secret}."
    )
    jwt_active_kid: str | None = Field(default=None, description="kid that signs new tokens (default: the last key).")
    jwt_issuer: str = Field(default="tidewatch", description="`iss` of issued tokens.")
    jwt_audience: str = Field(default="tidewatch-api", description="`aud` of issued tokens.")
    access_token_seconds: int = Field(default=900, ge=60, le=86_400, description="Access token lifetime.")
    refresh_token_seconds: int = Field(
        default=30 * 86_400, ge=3600, le=365 * 86_400, description="Refresh token lifetime."
    )
    nonce_seconds: int = Field(default=300, ge=30, le=3600, description="How long a sign-in nonce stays valid.")
    clock_skew_seconds: int = Field(default=60, ge=0, le=600, description="Tolerated clock skew for times.")

    @model_validator(mode="after")
    def _active_kid_is_known(self) -> AuthSettings:
        if self.jwt_keys and self.jwt_active_kid and self.jwt_active_kid not in self.jwt_keys:
            raise ValueError(f"TIDEWATCH_JWT_ACTIVE_KID {self.jwt_active_kid!r} is not in TIDEWATCH_JWT_KEYS")
        return self
