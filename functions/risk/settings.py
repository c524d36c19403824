"""Settings of the risk function (serving) and of its training run."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ForecastSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    model_bucket: str | None = Field(
        default=None,
        description="S3 bucket for model artifacts (training writes, serving reads via model_artifacts.uri).",
    )
    model_prefix: str = Field(default="models/", description="Key prefix of artifacts in the bucket.")
    model_dir: str | None = Field(
        default=None,
        description="Local folder for artifacts instead of S3 (the local run); used when no bucket is set.",
    )
    model_registry: bool = Field(
        default=True,
        description="Look up the newest approved artifact in model_artifacts (false: shipped default only).",
    )
    training_lookback_days: int = Field(default=365, ge=7, le=3650, description="History the weekly training reads.")
