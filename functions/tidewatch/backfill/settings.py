"""Settings of history backfills (the ingest function's heal schedule and `tidewatch backfill`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BackfillSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_BACKFILL_", extra="ignore", frozen=True)

    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="HTTP requests per second per chain (unset: as fast as the node allows).",
    )
    batch_size: int = Field(default=50, ge=1, le=1000, description="JSON-RPC calls per HTTP request.")
    buckets_per_round: int = Field(default=24, ge=1, le=720, description="Hours read per pair of round trips.")
    heal_hours: int = Field(
        default=48, ge=1, le=24 * 30, description="The heal schedule fills missed hours this far back."
    )
