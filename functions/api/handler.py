"""Lambda entry point of the api function: API Gateway HTTP API (payload v2) → Mangum → FastAPI.

The app and its collaborators are built at import (cold start), so settings are validated once and
connections are reused across invocations. The correlation id is API Gateway's request id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from api.app import create_app
from api.deps import ApiDeps, production_deps
from tidewatch.observability import logger, metrics, tracer

TEXT_MIME_TYPES = ["application/json", "application/problem+json", "application/javascript", "application/xml", "text/"]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def build_lambda_handler(deps: ApiDeps) -> LambdaHandler:
    """The decorated Lambda handler around an app built from `deps` (tests pass their own deps)."""
    # lifespan off: the app has no startup work, and a lifespan cycle would cost every cold start.
    # problem+json is text: without this Mangum would base64-encode every error body.
    asgi = Mangum(create_app(deps), lifespan="off", text_mime_types=TEXT_MIME_TYPES)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return dict(asgi(event, context))  # type: ignore[arg-type]  # Mangum has its own context protocol

    return lambda_handler


lambda_handler = build_lambda_handler(production_deps())
