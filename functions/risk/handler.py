"""Lambda entry point of the risk function (invoked synchronously by the api and rules functions)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidewatch import runtime
from tidewatch.entrypoint import run_typed
from tidewatch.events import HealthRequest
from tidewatch.health import check_health
from tidewatch.observability import logger, metrics, tracer


def _dispatch(event: HealthRequest) -> Any:
    return check_health(runtime.database(), None)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, HealthRequest, _dispatch)
