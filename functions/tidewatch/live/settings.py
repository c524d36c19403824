"""Settings of live updates (prefix TIDEWATCH_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    websocket_management_endpoint: str | None = Field(
        default=None,
        description="Override of the management API URL (local gateway); default: the one stored per connection.",
    )
    broadcast_workers: int = Field(default=32, ge=1, le=128, description="Parallel post_to_connection calls.")
