"""Settings of the risk function (serving)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ForecastSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    model_registry: bool = Field(
        default=True,
        description="Look up the newest approved artifact in model_artifacts (false: shipped default only).",
    )
