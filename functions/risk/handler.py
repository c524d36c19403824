"""Lambda entry point of the risk function (invoked synchronously by the api and rules functions).

Serving imports numpy and pydantic only: the models are exported coefficients evaluated with
numpy (see docs/models.md). Training lives in the `training` function (scikit-learn), never imported here.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from risk import logic
from risk.batch import score_batch_event
from risk.deps import RiskDeps, production_deps
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest
from tidewatch.forecast.payloads import ApyBatchRequest, ApyForecastCall, RiskBatchRequest, RiskScoreRequest
from tidewatch.health import check_health
from tidewatch.observability import logger, metrics, tracer

RiskEvent = Annotated[
    RiskScoreRequest | RiskBatchRequest | ApyForecastCall | ApyBatchRequest | HealthRequest,
    Field(discriminator="action"),
]


def dispatch(
    event: RiskScoreRequest | RiskBatchRequest | ApyForecastCall | ApyBatchRequest | HealthRequest,
    deps: RiskDeps,
) -> Any:
    models = deps.models
    if isinstance(event, HealthRequest):
        result = check_health(deps.database, None)
        result["models"] = {"risk": models.risk.version, "apy": models.apy.version}
        return result
    if isinstance(event, RiskScoreRequest):
        return logic.score_one(event, models.risk)
    if isinstance(event, RiskBatchRequest):
        return logic.score_batch(event, models.risk)
    if isinstance(event, ApyForecastCall):
        return logic.forecast_one(event, models, deps.database)
    return logic.forecast_batch(event, models, deps.database)


def handle(event: Any, deps: RiskDeps) -> dict[str, Any]:
    """The envelope for one event. Batches of positions take the columnar fast path
    (`risk.batch`: no pydantic model per position); everything else is parsed as `RiskEvent`."""
    if isinstance(event, dict) and event.get("action") == "score_risk_batch":
        return score_batch_event(event, deps.models.risk)

    def run(parsed: Any) -> Any:
        return dispatch(parsed, deps)

    return run_typed(event, RiskEvent, run)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, production_deps())
