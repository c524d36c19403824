"""Risk function logic: score positions and forecast APYs with the loaded models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from risk.deps import Models
from tidewatch.db import Database
from tidewatch.errors import DomainError
from tidewatch.forecast.apy_model import APY_HISTORY_HOURS, forecast_apy, market_key
from tidewatch.forecast.errors import UnknownAsset, UnknownMarket
from tidewatch.forecast.payloads import (
    ApyBatchRequest,
    ApyBatchResult,
    ApyForecast,
    ApyForecastCall,
    ApyForecastRequest,
    BatchItemError,
    RateObservation,
    RiskBatchRequest,
    RiskBatchResult,
    RiskForecast,
    RiskScoreRequest,
)
from tidewatch.forecast.risk_model import RiskModel, score_positions
from tidewatch.observability import MetricUnit, metrics


def score_one(request: RiskScoreRequest, model: RiskModel) -> RiskForecast:
    return score_positions([request.position], model)[0]


def score_batch(request: RiskBatchRequest, model: RiskModel) -> RiskBatchResult:
    """Score every position; one with an unknown asset gets an error entry instead of failing
    the whole batch (the rules engine scores thousands of positions per call)."""
    known = model.market.knows
    errors: list[BatchItemError] = []
    scorable: list[int] = []
    for i, position in enumerate(request.positions):
        unknown = sorted({leg.symbol for leg in [*position.collateral, *position.debt] if not known(leg.symbol)})
        if unknown:
            problem = UnknownAsset(f"no volatility estimate or fallback for {', '.join(unknown)}", asset=unknown[0])
            errors.append(BatchItemError(index=i, id=position.position_id, problem=problem.to_problem()))
        else:
            scorable.append(i)
    positions = request.positions if not errors else [request.positions[i] for i in scorable]
    forecasts = score_positions(positions, model)
    metrics.add_metric(name="RiskPositionsScored", unit=MetricUnit.Count, value=len(forecasts))
    if errors:
        metrics.add_metric(name="RiskPositionsRefused", unit=MetricUnit.Count, value=len(errors))
    return RiskBatchResult(model_version=model.version, forecasts=forecasts, errors=errors)


def stored_rate_history(
    database: Database, market_ids: Sequence[int], *, now: datetime | None = None
) -> tuple[dict[int, list[RateObservation]], dict[int, str]]:
    """The stored rates a forecast uses (`APY_HISTORY_HOURS`, oldest first) of
    each market, and each market's key (`protocol:chain:ASSET`) for its kink and its persistence
    decision."""
    if not market_ids:
        return {}, {}
    since = (now or datetime.now(UTC)) - timedelta(hours=APY_HISTORY_HOURS + 1)
    with database.connection() as conn:
        rows = conn.execute(
            """
            SELECT r.market_id, r.observed_at, r.supply_apy, r.borrow_apy, r.utilization,
                   r.total_supplied, r.price_usd, m.asset_decimals
            FROM market_rates r JOIN markets m ON m.id = r.market_id
            WHERE r.market_id = ANY(%s) AND r.observed_at >= %s ORDER BY r.market_id, r.observed_at
            """,
            (list(market_ids), since),
        ).fetchall()
        key_rows = conn.execute(
            "SELECT id, protocol, chain_id, asset_symbol FROM markets WHERE id = ANY(%s)", (list(market_ids),)
        ).fetchall()
    out: dict[int, list[RateObservation]] = {}
    for row in rows:
        deposits = None
        if row["total_supplied"] is not None and row["price_usd"] is not None:
            deposits = float(row["total_supplied"]) / 10.0 ** int(row["asset_decimals"]) * float(row["price_usd"])
        out.setdefault(int(row["market_id"]), []).append(
            RateObservation(
                observed_at=row["observed_at"],
                supply_apy=None if row["supply_apy"] is None else float(row["supply_apy"]),
                borrow_apy=None if row["borrow_apy"] is None else float(row["borrow_apy"]),
                utilization=None if row["utilization"] is None else min(1.5, float(row["utilization"])),
                deposits_usd=None if deposits is None or deposits < 0 else deposits,
            )
        )
    keys = {int(r["id"]): market_key(str(r["protocol"]), int(r["chain_id"]), str(r["asset_symbol"])) for r in key_rows}
    return out, keys


def forecast_many(
    requests: Sequence[ApyForecastRequest], models: Models, database: Database | None
) -> list[ApyForecast]:
    needed = [r.market_id for r in requests if not r.history and r.market_id is not None]
    histories: dict[int, list[RateObservation]] = {}
    keys: dict[int, str] = {}
    if needed:
        if database is None:
            raise UnknownMarket("stored history is unavailable; pass the market's history in the request")
        histories, keys = stored_rate_history(database, needed)
    return forecast_apy(requests, models.apy, histories, keys)


def forecast_one(call: ApyForecastCall, models: Models, database: Database | None) -> ApyForecast:
    return forecast_many([call.request], models, database)[0]


def forecast_batch(call: ApyBatchRequest, models: Models, database: Database | None) -> ApyBatchResult:
    try:
        forecasts = forecast_many(call.requests, models, database)
        return ApyBatchResult(model_version=models.apy.version, forecasts=forecasts)
    except DomainError:
        pass
    # Some market could not be forecast (too little history, unknown): the others still are.
    forecasts, errors = [], []
    for index, request in enumerate(call.requests):
        try:
            forecasts.extend(forecast_many([request], models, database))
        except DomainError as exc:
            errors.append(BatchItemError(index=index, id=str(request.market_id), problem=exc.to_problem()))
    return ApyBatchResult(model_version=models.apy.version, forecasts=forecasts, errors=errors)
