"""Settings of the training function."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrainingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    model_bucket: str | None = Field(
        default=None,
        description="S3 bucket for model artifacts (training writes, serving reads via model_artifacts.uri).",
    )
    model_prefix: str = Field(default="models/", description="Key prefix of artifacts in the bucket.")
    training_lookback_days: int = Field(default=365, ge=7, le=3650, description="History the weekly training reads.")
