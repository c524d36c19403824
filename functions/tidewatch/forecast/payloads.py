"""Request and response models of the risk function, shared with the rules engine and the api.

Amounts are exact integers in base units with their token decimals; prices and liquidation
thresholds are Decimals; probabilities and volatilities are floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tidewatch.forecast.assets import canonical

MIN_HORIZON_HOURS = 1
MAX_HORIZON_HOURS = 720
MAX_BATCH = 50_000

RiskBand = Literal["low", "medium", "high", "critical"]
ApyLabel = Literal["stay", "fall"]
#: What an APY forecast's point is: the model's, or a baseline's (`ApyForecast.method`)
ApyMethod = Literal["model", "persistence", "rolling_mean"]
ApyHorizon = Literal[24, 168]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Token amounts are uint256 on chain; anything larger is not an amount (and overflows a float).
MAX_AMOUNT = 2**256 - 1


class Holding(_Strict):
    """One asset of a position: `amount` in base units (10**decimals per token)."""

    symbol: Annotated[str, Field(min_length=1, max_length=32)]
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    decimals: Annotated[int, Field(ge=0, le=36)]
    price_usd: Annotated[Decimal, Field(gt=0)]

    @field_validator("symbol")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical(value)

    @property
    def value_usd(self) -> float:
        return float(self.amount) / 10.0**self.decimals * float(self.price_usd)


class Collateral(Holding):
    liquidation_threshold: Annotated[Decimal, Field(gt=0, le=1)]


class RiskRequest(_Strict):
    """A position to score: liquidation within `horizon_hours` means health factor < 1."""

    position_id: str | None = None
    collateral: Annotated[list[Collateral], Field(min_length=1, max_length=32)]
    debt: Annotated[list[Holding], Field(max_length=32)] = Field(default_factory=list)
    horizon_hours: Annotated[int, Field(ge=MIN_HORIZON_HOURS, le=MAX_HORIZON_HOURS)] = 24
    #: Annualised volatilities that override the model's estimates (e.g. a stress scenario).
    volatility: dict[str, Annotated[float, Field(ge=0, le=10)]] | None = None

    @field_validator("volatility")
    @classmethod
    def _canonical_keys(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return None if value is None else {canonical(k): v for k, v in value.items()}


class RiskForecast(_Strict):
    position_id: str | None
    horizon_hours: int
    health_factor: float | None  # None when there is no debt (infinite)
    probability: float  # of HF < 1 within the horizon, by the model
    reference_probability: float | None  # closed form, when exactly one volatile asset
    distance_to_liquidation: float  # fractional drop of all volatile collateral prices to HF = 1
    band: RiskBand
    model_version: str


class RiskBatchRequest(_Strict):
    action: Literal["score_risk_batch"] = "score_risk_batch"
    positions: Annotated[list[RiskRequest], Field(min_length=1, max_length=MAX_BATCH)]


class RiskScoreRequest(_Strict):
    action: Literal["score_risk"] = "score_risk"
    position: RiskRequest


class RateObservation(_Strict):
    """One reading of a market's rates given to the APY forecaster (the API's hourly buckets of a
    market are `tidewatch.markets.models.RatePoint`)."""

    observed_at: datetime
    supply_apy: Annotated[float, Field(ge=0, le=100)] | None = None  # fraction per year
    borrow_apy: Annotated[float, Field(ge=0, le=100)] | None = None
    utilization: Annotated[float, Field(ge=0, le=1.5)] | None = None
    deposits_usd: Annotated[float, Field(ge=0)] | None = None  # total supplied (TVL), for the flow features


class ApyForecastRequest(_Strict):
    """Forecast the mean APY over the next `horizon_hours` of one market side.

    Give `history` (hourly-ish points, newest last, at least 24 hours) or `market_id` for the
    function to read the market's stored history.
    """

    market_id: int | None = None
    #: `protocol:chain:ASSET` (e.g. `aave-v3:1:USDC`) for caller-given history; stored markets know theirs
    market: Annotated[str, Field(max_length=96)] | None = None
    side: Literal["supply", "borrow"] = "supply"
    horizon_hours: ApyHorizon = 24
    history: Annotated[list[RateObservation], Field(max_length=5_000)] | None = None

    @model_validator(mode="after")
    def _needs_source(self) -> ApyForecastRequest:
        if self.market_id is None and not self.history:
            raise ValueError("give market_id or history")
        return self


class ApyForecast(_Strict):
    market_id: int | None
    market: str | None = None  # `protocol:chain:ASSET` when known
    side: Literal["supply", "borrow"]
    horizon_hours: int
    current_apy: float
    predicted_apy: float  # mean APY over the horizon, fraction per year
    lower: float
    upper: float
    interval_level: float
    fall_probability: float  # P(mean APY over the horizon < (1 − FALL_FRACTION) × current)
    label: ApyLabel
    #: "model", or a baseline the model did not beat walk-forward for this market: "persistence"
    #: (the current value) or "rolling_mean" (the mean APY of the last `horizon_hours` hours)
    method: ApyMethod = "model"
    method_reason: str | None = None  # why a baseline is served
    model_version: str


class ApyForecastCall(_Strict):
    action: Literal["forecast_apy"] = "forecast_apy"
    request: ApyForecastRequest


class ApyBatchRequest(_Strict):
    action: Literal["forecast_apy_batch"] = "forecast_apy_batch"
    requests: Annotated[list[ApyForecastRequest], Field(min_length=1, max_length=5_000)]


class BatchItemError(_Strict):
    """Why one item of a batch could not be scored (the others still are)."""

    index: int
    id: str | None
    problem: dict[str, Any]


class RiskBatchResult(_Strict):
    """Forecasts of the scorable positions in request order (match them by `position_id`); the
    positions that could not be scored are listed in `errors` by their request index."""

    model_version: str
    forecasts: list[RiskForecast]
    errors: list[BatchItemError] = Field(default_factory=list)


class ApyBatchResult(_Strict):
    """Forecasts of the markets that could be forecast, in request order; the others (e.g. too
    little stored history yet) are listed in `errors` by their request index."""

    model_version: str
    forecasts: list[ApyForecast]
    errors: list[BatchItemError] = Field(default_factory=list)
