"""Lambda entry point of the WebSocket API: one function, dispatching on the route key.

API Gateway WebSocket events are not HTTP events, so they do not go through Mangum; the route
handlers in api.websocket are plain functions.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidewatch.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from api import websocket  # type: ignore[attr-defined]  # arrives with the live-updates work

    route = event.get("requestContext", {}).get("routeKey")
    if route == "$connect":
        return websocket.connect_handler(event)
    if route == "$disconnect":
        return websocket.disconnect_handler(event)
    return websocket.default_handler(event)
