"""Settings of chain reads beyond `tidewatch.settings.ChainSettings` (RPC URLs, registry, timeout)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChainReadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    rpc_retry_rounds: int = Field(default=3, ge=1, le=10, description="Passes over a chain's RPC URL list.")
    rpc_backoff_seconds: float = Field(default=0.25, ge=0, le=10, description="First pause between passes.")
    multicall_chunk_size: int = Field(default=400, ge=10, le=5000, description="Calls per aggregate3 eth_call.")
    market_cache_ttl_seconds: int = Field(default=180, ge=10, description="Hot cache lifetime per market.")
    position_cache_ttl_seconds: float = Field(default=30.0, gt=0, description="Positions cache-aside TTL.")
    discovery_ttl_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="Markets discovered from registry roots are re-read after this."
    )
