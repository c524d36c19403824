"""The risk handler's `score_risk_batch` fast path: parse, score and build the JSON-ready
result without a pydantic model per position.

A plainly valid event (exact JSON types, in range: `risk.plain`) is read straight into
columns. Any other is validated by pydantic-core against TypedDicts with the same rules as
`RiskRequest` (extra fields refused, amounts ≥ 0, 0 ≤ decimals ≤ 36, prices > 0 and finite,
0 < liquidation threshold ≤ 1, horizon 1–720 h, 1–32 collateral legs, ≤ 32 debt legs,
volatility overrides 0–10) in one pass, which accepts it with its lax rules or gives the 422
problem body, and the validated legs are read out column by column. Either way the columns
become numpy arrays (symbols as integer codes, unknown assets found per distinct symbol) scored
columnar (`tidewatch.forecast.columnar`: the same maths as
`score_positions`, tested to agree); the forecasts are plain dicts in the `RiskForecast` shape.
Prices travel as floats here (the model computes in floats anyway); `RiskRequest` keeps Decimals
for callers that need them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, NotRequired

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from risk.plain import Legs, legs_of, plain_legs
from tidewatch.entrypoint import error_envelope, validation_problem
from tidewatch.errors import InvalidInput
from tidewatch.forecast.assets import canonical
from tidewatch.forecast.columnar import LegTable, score_legs
from tidewatch.forecast.errors import UnknownAsset
from tidewatch.forecast.payloads import MAX_AMOUNT, MAX_BATCH, MAX_HORIZON_HOURS, MIN_HORIZON_HOURS
from tidewatch.forecast.risk_model import RiskModel
from tidewatch.observability import MetricUnit, metrics

_FORBID = ConfigDict(extra="forbid")
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]


@with_config(_FORBID)
class _Holding(TypedDict):
    symbol: Annotated[str, Field(min_length=1, max_length=32)]
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
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


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a batch allocates a few hundred thousand acyclic
    dicts and lists (freed by reference counting), and each allocation burst otherwise sets off
    collections that walk every live object, the event included (about a third of the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def score_batch_event(event: Any, model: RiskModel) -> dict[str, Any]:
    """The `{ok, result}` envelope of a `score_risk_batch` event (or its error envelope)."""
    with _no_cyclic_gc():
        return _score_batch_event(event, model)


def _validated_legs(event: Any) -> Legs | InvalidInput:
    """The batch through pydantic-core: its columns, or the problem of a malformed batch."""
    try:
        batch = _ADAPTER.validate_python(event)
    except ValidationError as exc:
        return validation_problem(exc)
    positions = batch["positions"]
    return legs_of(positions, [p["collateral"] for p in positions], [p.get("debt", ()) for p in positions])


def _score_batch_event(event: Any, model: RiskModel) -> dict[str, Any]:
    legs = plain_legs(event)
    if legs is None:
        read = _validated_legs(event)
        if isinstance(read, InvalidInput):
            return error_envelope(read)
        legs = read
    positions, collateral, debt, coll_legs, every_leg = (
        legs.positions,
        legs.collateral,
        legs.debt,
        legs.coll_legs,
        legs.every_leg,
    )
    n = len(positions)
    # Symbols become small integer codes so the per-asset work is per distinct symbol, not per leg.
    raw_symbols = legs.symbols
    codes = {s: i for i, s in enumerate(dict.fromkeys(raw_symbols))}
    raw_code = np.array(list(map(codes.__getitem__, raw_symbols)), dtype=np.int64)
    names = [_canonical(s) for s in codes]
    symbols = list(dict.fromkeys(names))
    asset_of_code = np.array([symbols.index(c) for c in names], dtype=np.int64)
    asset = asset_of_code[raw_code] if raw_code.size else raw_code
    market = model.market
    known = np.array([market.knows(s) for s in symbols], dtype=bool)
    value = legs.amount / 10.0**legs.decimals * legs.price
    value[: len(coll_legs)] *= legs.threshold
    rows = np.arange(n)
    leg_position = np.concatenate(
        [
            np.repeat(rows, np.fromiter(map(len, collateral), dtype=np.int64, count=n)),
            np.repeat(rows, np.fromiter(map(len, debt), dtype=np.int64, count=n)),
        ]
    )
    is_collateral = np.arange(len(every_leg)) < len(coll_legs)

    errors: list[dict[str, Any]] = []
    unknown_leg = ~known[asset]
    if unknown_leg.any():
        refused = np.zeros(n, dtype=bool)
        refused[leg_position[unknown_leg]] = True
        for index in np.flatnonzero(refused).tolist():
            position = positions[index]
            held = [*position["collateral"], *position.get("debt", ())]
            unknown = sorted({c for leg in held if not market.knows(c := _canonical(leg["symbol"]))})
            problem = UnknownAsset(f"no volatility estimate or fallback for {', '.join(unknown)}", asset=unknown[0])
            errors.append({"index": index, "id": position.get("position_id"), "problem": problem.to_problem()})
        kept_rows = np.flatnonzero(~refused)
        keep_leg = ~refused[leg_position]
        row_of = np.cumsum(~refused) - 1
        leg_position = row_of[leg_position[keep_leg]]
        asset, value, is_collateral = asset[keep_leg], value[keep_leg], is_collateral[keep_leg]
        kept = [positions[i] for i in kept_rows.tolist()]
        # The unknown symbols leave the table: the scorer looks up every symbol it holds.
        used = np.flatnonzero(known)
        renumber = np.cumsum(known) - 1
        asset = renumber[asset]
        symbols = [symbols[i] for i in used.tolist()]
    else:
        kept = positions
    legs_table = LegTable(leg_position, asset, value, is_collateral, symbols)
    horizons = [p.get("horizon_hours", 24) for p in kept]
    overrides = {
        row: {_canonical(k): v for k, v in volatility.items()}
        for row, p in enumerate(kept)
        if (volatility := p.get("volatility"))
    }
    columns = score_legs(legs_table, len(kept), horizons, overrides, model)
    version = model.version
    forecasts = [
        {
            "position_id": p.get("position_id"),
            "horizon_hours": h,
            "health_factor": hf,
            "probability": prob,
            "reference_probability": ref,
            "distance_to_liquidation": dist,
            "band": band,
            "model_version": version,
        }
        for p, h, hf, prob, ref, dist, band in zip(
            kept,
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
