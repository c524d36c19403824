"""Lambda entry point of the risk function (invoked synchronously by the api and rules functions).

Serving imports numpy and pydantic only: the models are exported coefficients evaluated with
numpy (see docs/models.md). Training lives in `risk.training` (scikit-learn), not imported here.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from risk import deps, logic
from tidewatch import runtime
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
    models: deps.Models | None = None,
) -> Any:
    if isinstance(event, HealthRequest):
        result = check_health(runtime.database(), None)
        loaded = models or deps.models()
        result["models"] = {"risk": loaded.risk.version, "apy": loaded.apy.version}
        return result
    loaded = models or deps.models()
    if isinstance(event, RiskScoreRequest):
        return logic.score_one(event, loaded.risk)
    if isinstance(event, RiskBatchRequest):
        return logic.score_batch(event, loaded.risk)
    database = runtime.database()
    if isinstance(event, ApyForecastCall):
        return logic.forecast_one(event, loaded, database)
    return logic.forecast_batch(event, loaded, database)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, RiskEvent, dispatch)
