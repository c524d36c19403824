"""Lambda entry point of the api function: API Gateway HTTP API (payload v2) → Mangum → FastAPI.

The app and its collaborators are built at import (cold start), so settings are validated once and
connections are reused across invocations. The correlation id is API Gateway's request id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import FastAPI
from mangum import Mangum

from api.app import create_app
from api.deps import ApiDeps, production_deps
from api.lazy_routers import router_table_of
from tidewatch import snapstart
from tidewatch.observability import logger, metrics, tracer

TEXT_MIME_TYPES = ["application/json", "application/problem+json", "application/javascript", "application/xml", "text/"]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def build_lambda_handler(deps: ApiDeps) -> LambdaHandler:
    """The decorated Lambda handler around an app built from `deps` (tests pass their own deps)."""
    return handler_for(create_app(deps))


def handler_for(app: FastAPI) -> LambdaHandler:
    # lifespan off: the app has no startup work, and a lifespan cycle would cost every cold start.
    # problem+json is text: without this Mangum would base64-encode every error body.
    asgi = Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return dict(asgi(event, context))  # type: ignore[arg-type]  # Mangum has its own context protocol

    return lambda_handler


app = create_app(production_deps())
# Routers are included on their first request (api.lazy_routers); under SnapStart the snapshot is
# where that is paid once, so restored containers start with every route registered.
_table = router_table_of(app)
if _table is not None:
    snapstart.before_snapshot(_table.include_all)
lambda_handler = handler_for(app)
