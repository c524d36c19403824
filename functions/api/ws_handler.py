"""Lambda entry point of the WebSocket API: one function, dispatching on the route key.

API Gateway WebSocket events are not HTTP events, so they do not go through Mangum; the route
handlers in api.websocket are plain functions (each also usable as its own Lambda handler). The
same function pushes chunks of large broadcasts (`live.push` events, asynchronous invokes).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from api import websocket
from tidewatch.observability import metrics, tracer


@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("kind") == "live.push":  # a chunk of a broadcast, handed off by another function
        return websocket.push_chunk_handler(event, context)
    route = event.get("requestContext", {}).get("routeKey")
    if route == "$connect":
        return websocket.connect_handler(event, context)
    if route == "$disconnect":
        return websocket.disconnect_handler(event, context)
    return websocket.default_handler(event, context)
