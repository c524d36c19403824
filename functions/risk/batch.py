"""The risk handler's `score_risk_batch` fast path: parse, score and build the JSON-ready
result without a pydantic model per position.

The batch is validated by pydantic-core against TypedDicts with the same rules as
`RiskRequest` (extra fields refused, amounts ≥ 0, 0 ≤ decimals ≤ 36, prices > 0 and finite,
0 < liquidation threshold ≤ 1, horizon 1–720 h, 1–32 collateral legs, ≤ 32 debt legs,
volatility overrides 0–10), so nothing in Python runs per field. The legs go into flat arrays
and are scored columnar (`tidewatch.forecast.columnar`: the same maths as `score_positions`,
tested to agree); the forecasts are plain dicts in the `RiskForecast` shape. Prices travel as floats here (the model
computes in floats anyway); `RiskRequest` keeps Decimals for callers that need them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from tidewatch.entrypoint import error_envelope, validation_problem
from tidewatch.forecast.assets import canonical
from tidewatch.forecast.columnar import LegTable, score_legs
from tidewatch.forecast.errors import UnknownAsset
from tidewatch.forecast.payloads import MAX_BATCH, MAX_HORIZON_HOURS, MIN_HORIZON_HOURS
from tidewatch.forecast.risk_model import RiskModel
from tidewatch.observability import MetricUnit, metrics

_FORBID = ConfigDict(extra="forbid")
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]


@with_config(_FORBID)
class _Holding(TypedDict):
    symbol: Annotated[str, Field(min_length=1, max_length=32)]
    amount: Annotated[int, Field(ge=0)]
    decimals: Annotated[int, Field(ge=0, le=36)]
    price_usd: Price


@with_config(_FORBID)
class _Collateral(_Holding):
    liquidation_threshold: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


@with_config(_FORBID)
class _Position(TypedDict):
    position_id: NotRequired[str | None]
    collateral: Annotated[list[_Collateral], Field(min_length=1, max_length=32)]
    debt: NotRequired[Annotated[list[_Holding], Field(max_length=32)]]
    horizon_hours: NotRequired[Annotated[int, Field(ge=MIN_HORIZON_HOURS, le=MAX_HORIZON_HOURS)]]
    volatility: NotRequired[dict[str, Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]] | None]


@with_config(_FORBID)
class _Batch(TypedDict):
    action: Literal["score_risk_batch"]
    positions: Annotated[list[_Position], Field(min_length=1, max_length=MAX_BATCH)]


_ADAPTER: TypeAdapter[_Batch] = TypeAdapter(_Batch)
_CANONICAL: dict[str, str] = {}


def _canonical(symbol: str) -> str:
    known = _CANONICAL.get(symbol)
    if known is None:
        known = _CANONICAL[symbol] = canonical(symbol)
    return known


def score_batch_event(event: Any, model: RiskModel) -> dict[str, Any]:
    """The `{ok, result}` envelope of a `score_risk_batch` event (or its error envelope)."""
    try:
        batch = _ADAPTER.validate_python(event)
    except ValidationError as exc:
        problem = validation_problem(exc)
        return error_envelope(problem)
    positions = batch["positions"]
    market = model.market
    legs = LegTable([], [], [], [], [])
    index_of: dict[str, int] = {}
    known: dict[str, bool] = {}
    kept: list[_Position] = []
    overrides: dict[int, dict[str, float]] = {}
    errors: list[dict[str, Any]] = []
    for index, position in enumerate(positions):
        collateral = position["collateral"]
        debt = position.get("debt", ())
        symbols = [_canonical(leg["symbol"]) for leg in collateral] + [_canonical(leg["symbol"]) for leg in debt]
        for s in symbols:
            if s not in known:
                known[s] = market.knows(s)
        unknown = sorted({s for s in symbols if not known[s]})
        if unknown:
            problem = UnknownAsset(f"no volatility estimate or fallback for {', '.join(unknown)}", asset=unknown[0])
            errors.append({"index": index, "id": position.get("position_id"), "problem": problem.to_problem()})
            continue
        row = len(kept)
        for j, leg in enumerate(collateral):
            legs.position.append(row)
            legs.asset.append(index_of.setdefault(symbols[j], len(index_of)))
            legs.value.append(
                float(leg["amount"]) / 10.0 ** leg["decimals"] * leg["price_usd"] * leg["liquidation_threshold"]
            )
            legs.collateral.append(True)
        for j, owed in enumerate(debt, start=len(collateral)):
            legs.position.append(row)
            legs.asset.append(index_of.setdefault(symbols[j], len(index_of)))
            legs.value.append(float(owed["amount"]) / 10.0 ** owed["decimals"] * owed["price_usd"])
            legs.collateral.append(False)
        volatility = position.get("volatility")
        if volatility:
            overrides[row] = {_canonical(k): v for k, v in volatility.items()}
        kept.append(position)
    legs.symbols = list(index_of)
    horizons = [p.get("horizon_hours", 24) for p in kept]
    columns = score_legs(legs, len(kept), horizons, overrides, model)
    version = model.version
    forecasts = [
        {
            "position_id": position.get("position_id"),
            "horizon_hours": horizons[i],
            "health_factor": columns.health_factor[i],
            "probability": columns.probability[i],
            "reference_probability": columns.reference[i],
            "distance_to_liquidation": columns.distance[i],
            "band": columns.band[i],
            "model_version": version,
        }
        for i, position in enumerate(kept)
    ]
    metrics.add_metric(name="RiskPositionsScored", unit=MetricUnit.Count, value=len(forecasts))
    if errors:
        metrics.add_metric(name="RiskPositionsRefused", unit=MetricUnit.Count, value=len(errors))
    return {"ok": True, "result": {"model_version": version, "forecasts": forecasts, "errors": errors}}
