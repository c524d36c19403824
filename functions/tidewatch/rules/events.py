"""The "market changed" event ingest publishes and the rules function consumes.

On AWS it arrives as an EventBridge event (source `tidewatch.ingest`, detail-type `MarketChanged`);
locally the in-process publisher hands the same dict to the rules handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MARKET_CHANGED_SOURCE = "tidewatch.ingest"
MARKET_CHANGED_DETAIL_TYPE = "MarketChanged"


class ChangedMarket(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    market_id: int
    supply_apy: float | None = None
    borrow_apy: float | None = None
    utilization: float | None = None
    price_usd: float | None = None


class MarketChangedDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    chain_id: int
    block_number: int
    observed_at: datetime
    markets: list[ChangedMarket] = Field(min_length=1)


class MarketChangedEvent(BaseModel):
    """EventBridge envelope of a "market changed" event."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["MarketChanged"] = Field(alias="detail-type")
    source: Literal["tidewatch.ingest"]
    time: datetime
    detail: MarketChangedDetail

    @classmethod
    def envelope(cls, detail: MarketChangedDetail, *, event_id: str) -> dict[str, Any]:
        """The dict a publisher sends (EventBridge PutEvents Detail is `detail` as JSON)."""
        return {
            "version": "0",
            "id": event_id,
            "detail-type": MARKET_CHANGED_DETAIL_TYPE,
            "source": MARKET_CHANGED_SOURCE,
            "time": detail.observed_at.isoformat(),
            "detail": detail.model_dump(mode="json"),
        }
