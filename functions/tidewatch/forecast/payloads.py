"""Request and response models of the risk function, shared with the rules engine and the api.

Amounts are exact integers in base units with their token decimals; prices and liquidation
thresholds are Decimals; probabilities and volatilities are floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

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


#: Readings a request may carry, as points or as columns.
MAX_HISTORY_READINGS = 5_000
#: 9999-12-31T23:59:59Z, the last second a `datetime` (and so a `RateObservation`) can hold.
MAX_UNIX_SECONDS = 253_402_300_799
#: Ten years from the oldest reading of `history_columns` to the newest: the readings go onto an
#: hourly grid of that span (≈ 0.7 MB a column at ten years; two readings 8,000 years apart
#: would need gigabytes), and a forecast reads its last weeks.
MAX_HISTORY_SPAN_HOURS = 87_660


# Entries of the reading columns: finite JSON numbers within `RateObservation`'s bounds, checked
# element by element inside pydantic-core; strings and booleans are refused.
_Seconds = Annotated[float, Field(ge=0, le=MAX_UNIX_SECONDS, allow_inf_nan=False, strict=True)]
_Apy = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]
_Utilization = Annotated[float, Field(ge=0, le=1.5, allow_inf_nan=False, strict=True)]
_Usd = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
#: A column of readings, null where a reading was not given.
_ApyColumn = Annotated[list[_Apy | None], Field(max_length=MAX_HISTORY_READINGS)]
_UtilizationColumn = Annotated[list[_Utilization | None], Field(max_length=MAX_HISTORY_READINGS)]
_UsdColumn = Annotated[list[_Usd | None], Field(max_length=MAX_HISTORY_READINGS)]


class RateHistoryColumns(_Strict):
    """A market's readings as columns: entry `i` of every column is the reading taken at
    `observed_at[i]` (unix seconds; any order, several in an hour allowed, the last one given
    wins as in `history`). A null entry, or a column left out, is a reading not given, exactly
    as None in a `RateObservation`; the bounds are `RateObservation`'s, and NaN or infinity is
    refused, as are readings spanning more than `MAX_HISTORY_SPAN_HOURS`. The same history as
    `RateObservation` points without an object per reading."""

    observed_at: Annotated[list[_Seconds], Field(min_length=1, max_length=MAX_HISTORY_READINGS)]
    supply_apy: _ApyColumn | None = None  # fraction per year
    borrow_apy: _ApyColumn | None = None
    utilization: _UtilizationColumn | None = None
    deposits_usd: _UsdColumn | None = None  # total supplied (TVL), for the flow features

    @field_validator("observed_at")
    @classmethod
    def _within_span(cls, value: list[float]) -> list[float]:
        span = (max(value) - min(value)) / 3600
        if span > MAX_HISTORY_SPAN_HOURS:
            raise ValueError(f"the readings span {span:,.0f} hours; at most {MAX_HISTORY_SPAN_HOURS:,} (ten years)")
        return value

    @field_validator("supply_apy", "borrow_apy", "utilization", "deposits_usd")
    @classmethod
    def _one_entry_per_time(cls, value: list[float | None] | None, info: ValidationInfo) -> list[float | None] | None:
        times = info.data.get("observed_at")
        if value is not None and times is not None and len(value) != len(times):
            raise ValueError(f"{info.field_name} has {len(value)} entries, observed_at has {len(times)}")
        return value


class ApyForecastRequest(_Strict):
    """Forecast the mean APY over the next `horizon_hours` of one market side.

    Give `history` (hourly-ish points, newest last, at least 24 hours), the same readings as
    `history_columns`, or `market_id` for the function to read the market's stored history.
    """

    market_id: int | None = None
    #: `protocol:chain:ASSET` (e.g. `aave-v3:1:USDC`) for caller-given history; stored markets know theirs
    market: Annotated[str, Field(max_length=96)] | None = None
    side: Literal["supply", "borrow"] = "supply"
    horizon_hours: ApyHorizon = 24
    history: Annotated[list[RateObservation], Field(max_length=MAX_HISTORY_READINGS)] | None = None
    #: `history` as columns: read into arrays without a Python object per reading
    history_columns: RateHistoryColumns | None = None

    @field_validator("history")
    @classmethod
    def _points_within_span(cls, value: list[RateObservation] | None) -> list[RateObservation] | None:
        # The points go onto the same hourly grid as the columns; their calendar years bound the
        # span without a timestamp per point (at most a year more than the columns' ten).
        if value:
            years = [p.observed_at.year for p in value]
            first, last = min(years), max(years)
            if last - first > MAX_HISTORY_SPAN_HOURS // 8766:
                raise ValueError(f"the readings span the years {first} to {last}; at most ten years")
        return value

    @model_validator(mode="after")
    def _needs_source(self) -> ApyForecastRequest:
        if self.history is not None and self.history_columns is not None:
            raise ValueError("give history or history_columns, not both")
        if self.market_id is None and not self.history and self.history_columns is None:
            raise ValueError("give market_id or history (as points or as history_columns)")
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
