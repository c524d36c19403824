import importlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import ApiDeps
from api.handler import build_lambda_handler
from tidewatch import runtime
from tidewatch.cache import connect_redis

from .lambda_events import FakeLambdaContext, load_event, response_json

pytestmark = pytest.mark.integration


def test_health_reports_database_and_cache(client: TestClient) -> None:
    # When the health route is called with both stores up
    response = client.get("/health")
    # Then both are reported reachable
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"database": True, "cache": True}


def test_health_through_the_lambda_entry_point_echoes_the_request_id(
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    # Given the sample HTTP API v2 event for GET /health
    event = load_event("health.json")
    # When it runs through the decorated handler (Powertools → Mangum → FastAPI)
    response = invoke(event)
    # Then it answers 200 with the report and API Gateway's request id echoed
    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "ok"
    assert response["headers"]["x-request-id"] == "health-0001"


def test_health_is_degraded_when_the_cache_is_unreachable(make_deps: Callable[..., ApiDeps]) -> None:
    # Given a Redis client pointing at a closed port
    deps = make_deps(redis=connect_redis("redis://127.0.0.1:1/0", timeout=0.2))
    handler = build_lambda_handler(deps)
    # When health is requested
    response = handler(load_event("health.json"), FakeLambdaContext())  # type: ignore[arg-type]
    # Then it answers 503 naming the cache as down, the database as up
    assert response["statusCode"] == 503
    checks = {c["name"]: c["ok"] for c in response_json(response)["checks"]}
    assert checks == {"database": True, "cache": False}


def test_module_level_handler_is_built_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str
) -> None:
    # Given the environment a deployed function would have
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_REDIS_URL", redis_url)
    runtime.reset()
    import api.deps
    import api.handler

    api.deps.production_deps.cache_clear()
    try:
        # When the handler module is imported afresh (a cold start)
        module = importlib.reload(api.handler)
        response = module.lambda_handler(load_event("health.json"), FakeLambdaContext())
        # Then its module-level lambda_handler serves the health route
        assert response["statusCode"] == 200
        assert response_json(response)["status"] == "ok"
    finally:
        runtime.reset()
        api.deps.production_deps.cache_clear()
