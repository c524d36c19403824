"""The "market changed" event ingest publishes and the rules function consumes.

Mirrors `tidewatch.marketfeed.MarketChanged` of the ingest work (one market per event): on AWS an
EventBridge event with source `tidewatch.ingest` and detail-type `market.changed`; locally the
in-process publisher's event, wrapped the same way. Decimals arrive as JSON strings and parse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MARKET_CHANGED_SOURCE = "tidewatch.ingest"
MARKET_CHANGED_DETAIL_TYPE = "market.changed"


class MarketChangedDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    market_id: int
    chain_id: int
    block_number: int
    observed_at: datetime
    protocol: str | None = None
    market_key: str | None = None
    asset_symbol: str | None = None
    supply_apy: float | None = None
    borrow_apy: float | None = None
    utilization: float | None = None
    price_usd: float | None = None

    def live_update(self) -> dict[str, object]:
        """What WebSocket subscribers of `markets` / `market:<id>` receive."""
        return self.model_dump(mode="json", exclude_none=True)


class MarketChangedEvent(BaseModel):
    """EventBridge envelope of a "market changed" event."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["market.changed"] = Field(alias="detail-type")
    source: Literal["tidewatch.ingest"]
    time: datetime
    detail: MarketChangedDetail
