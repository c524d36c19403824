"""Risk function logic: score positions and forecast APYs with the loaded models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from risk.deps import Models
from tidewatch.db import Database
from tidewatch.errors import DomainError
from tidewatch.forecast.apy_model import APY_HISTORY_HOURS, RateColumns, forecast_apy
from tidewatch.forecast.errors import UnknownAsset, UnknownMarket
from tidewatch.forecast.payloads import (
    ApyBatchRequest,
    ApyBatchResult,
    ApyForecast,
    ApyForecastCall,
    ApyForecastRequest,
    BatchItemError,
    RiskBatchRequest,
    RiskBatchResult,
    RiskForecast,
    RiskScoreRequest,
)
from tidewatch.forecast.repository import stored_rate_history
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


def forecast_many(
    requests: Sequence[ApyForecastRequest], models: Models, database: Database | None
) -> list[ApyForecast]:
    needed = [r.market_id for r in requests if not r.history and r.history_columns is None and r.market_id is not None]
    histories: dict[int, RateColumns] = {}
    keys: dict[int, str] = {}
    if needed:
        if database is None:
            raise UnknownMarket("stored history is unavailable; pass the market's history in the request")
        since = datetime.now(UTC) - timedelta(hours=APY_HISTORY_HOURS + 1)
        histories, keys = stored_rate_history(database, needed, since=since)
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
