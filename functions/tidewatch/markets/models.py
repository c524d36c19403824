"""Market shapes at the API boundary. Rates are fractions per year (0.0345 = 3.45 %)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from tidewatch.protocols.slugs import ProtocolSlug


class ApyOutlook(BaseModel):
    """The risk function's supply-APY forecast for the next 24 h (fractions per year)."""

    horizon_hours: int
    predicted_apy: float
    lower: float
    upper: float
    interval_level: float
    label: Literal["stay", "fall"] = Field(description="Whether the APY is likely to stay or to fall.")
    fall_probability: float
    method: Literal["model", "persistence", "rolling_mean"] = Field(
        default="model",
        description='"persistence" when the forecast is the current APY, "rolling_mean" when it is the mean APY '
        "of the last 24 h (the model did not beat that baseline for this market).",
    )
    method_reason: str | None = Field(default=None, description="Why a baseline is served.")
    model_version: str


class MarketSummary(BaseModel):
    id: int
    chain_id: int
    protocol: ProtocolSlug
    market_key: str = Field(description="Reserve / Comet / strategy address.")
    asset_symbol: str
    asset_address: str
    asset_decimals: int
    supply_apy: Decimal | None = None
    borrow_apy: Decimal | None = None
    utilization: Decimal | None = None
    total_supplied: str | None = Field(default=None, description="Base units, exact (a decimal string).")
    total_borrowed: str | None = Field(default=None, description="Base units, exact (a decimal string).")
    price_usd: Decimal | None = None
    tvl_usd: Decimal | None = Field(default=None, description="total_supplied × price, in USD.")
    block_number: int | None = None
    observed_at: datetime | None = None
    age_seconds: float | None = Field(default=None, description="How old the latest reading is.")
    stale: bool = Field(description="True when the latest reading is older than the staleness limit.")
    forecast: ApyOutlook | None = Field(
        default=None, description="24 h supply APY forecast; absent when the model has too little history."
    )


class MarketList(BaseModel):
    items: list[MarketSummary]
    as_of: datetime
    stale: bool = Field(description="True when served from cache because the database was unreachable.")
    age_seconds: float = 0.0


class RatePoint(BaseModel):
    t: datetime = Field(description="Start of the bucket.")
    supply_apy: Decimal | None
    borrow_apy: Decimal | None
    utilization: Decimal | None
    price_usd: Decimal | None = None
    tvl_usd: Decimal | None = Field(default=None, description="Average total supplied × price in the bucket (USD).")
    samples: int


class HistoryGap(BaseModel):
    start: datetime = Field(description="First bucket without a reading.")
    end: datetime = Field(description="End of the last bucket without a reading (exclusive).")
    buckets: int
    reason: Literal["missing", "unfillable"] = Field(
        description="`missing`: not read yet (the heal schedule or a backfill will fill it); "
        "`unfillable`: the chain had no block or no readable market then (marked by a backfill)."
    )


class MarketHistory(BaseModel):
    market: MarketSummary
    start: datetime
    end: datetime
    bucket: Literal["hour", "day"] | None = Field(default=None, description="The bucket asked for, if any.")
    bucket_seconds: int = Field(description="Downsampling step: each point averages one bucket.")
    first_timestamp: datetime | None = Field(
        default=None, description="The series' first reading ever stored (its history begins there)."
    )
    gaps: list[HistoryGap] = Field(
        default_factory=list,
        description="Buckets between the series' first reading (or the range start) and the range end with no reading.",
    )
    points: list[RatePoint]
