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

import numpy as np
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
    kept, errors = _known_positions(positions, model)
    legs, overrides = _leg_table(kept)
    horizons = [p.get("horizon_hours", 24) for p in kept]
    columns = score_legs(legs, len(kept), horizons, overrides, model)
    version = model.version
    # One dict per forecast from columns already converted to Python values (`.tolist()`).
    forecasts = [
        {
            "position_id": pid,
            "horizon_hours": horizon,
            "health_factor": hf,
            "probability": probability,
            "reference_probability": reference,
            "distance_to_liquidation": distance,
            "band": band,
            "model_version": version,
        }
        for pid, horizon, hf, probability, reference, distance, band in zip(
            [p.get("position_id") for p in kept],
            horizons,
            columns.health_factor,
            columns.probability,
            columns.reference,
            columns.distance,
            columns.band,
            strict=True,
        )
    ]
    metrics.add_metric(name="RiskPositionsScored", unit=MetricUnit.Count, value=len(forecasts))
    if errors:
        metrics.add_metric(name="RiskPositionsRefused", unit=MetricUnit.Count, value=len(errors))
    return {"ok": True, "result": {"model_version": version, "forecasts": forecasts, "errors": errors}}


def _known_positions(positions: list[_Position], model: RiskModel) -> tuple[list[_Position], list[dict[str, Any]]]:
    """The positions whose every asset the model knows, and an error entry for each other one."""
    symbols = {leg["symbol"] for p in positions for leg in p["collateral"]}
    symbols.update(leg["symbol"] for p in positions for leg in p.get("debt", ()))
    market = model.market
    unknown_raw = {s for s in symbols if not market.knows(_canonical(s))}
    if not unknown_raw:
        return positions, []
    kept: list[_Position] = []
    errors: list[dict[str, Any]] = []
    for index, position in enumerate(positions):
        legs = [*position["collateral"], *position.get("debt", ())]
        unknown = sorted({_canonical(leg["symbol"]) for leg in legs if leg["symbol"] in unknown_raw})
        if unknown:
            problem = UnknownAsset(f"no volatility estimate or fallback for {', '.join(unknown)}", asset=unknown[0])
            errors.append({"index": index, "id": position.get("position_id"), "problem": problem.to_problem()})
        else:
            kept.append(position)
    return kept, errors


def _leg_table(kept: list[_Position]) -> tuple[LegTable, dict[int, dict[str, float]]]:
    """All legs as flat columns (collateral legs first, then debt legs) and the per-position
    volatility overrides; USD values are computed in numpy for the whole batch."""
    collateral = [leg for p in kept for leg in p["collateral"]]
    debt = [leg for p in kept for leg in p.get("debt", ())]
    n_coll = np.fromiter((len(p["collateral"]) for p in kept), dtype=np.int64, count=len(kept))
    n_debt = np.fromiter((len(p.get("debt", ())) for p in kept), dtype=np.int64, count=len(kept))
    index_of: dict[str, int] = {}
    asset = [index_of.setdefault(_canonical(leg["symbol"]), len(index_of)) for leg in (*collateral, *debt)]
    both = (*collateral, *debt)
    # float(amount): base-unit amounts can exceed 64 bits.
    amount = np.fromiter((float(leg["amount"]) for leg in both), dtype=np.float64, count=len(both))
    decimals = np.fromiter((leg["decimals"] for leg in both), dtype=np.float64, count=len(both))
    price = np.fromiter((leg["price_usd"] for leg in both), dtype=np.float64, count=len(both))
    threshold = np.ones(len(both))
    threshold[: len(collateral)] = np.fromiter(
        (leg["liquidation_threshold"] for leg in collateral), dtype=np.float64, count=len(collateral)
    )
    rows = np.arange(len(kept))
    legs = LegTable(
        position=np.concatenate([np.repeat(rows, n_coll), np.repeat(rows, n_debt)]),
        asset=np.asarray(asset, dtype=np.int64),
        value=amount / 10.0**decimals * price * threshold,
        collateral=np.arange(len(both)) < len(collateral),
        symbols=list(index_of),
    )
    overrides = {
        row: {_canonical(k): v for k, v in volatility.items()}
        for row, p in enumerate(kept)
        if (volatility := p.get("volatility"))
    }
    return legs, overrides
