"""`tidewatch dev` serves the template's routes through the real handlers, over real HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.schedules import ScheduleRunner
from tidewatch_local.template import read_template

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_health_route_through_the_local_gateway(dev_server: str) -> None:
    # When the health route is requested over HTTP
    response = httpx.get(f"{dev_server}/api/health", headers={"x-request-id": "req-123"})
    # Then the api handler answered through an HTTP API v2 event, with both stores checked
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"database": True, "cache": True}
    assert response.headers["x-request-id"] == "req-123"


def test_unrouted_paths_get_api_gateways_not_found(dev_server: str) -> None:
    response = httpx.get(f"{dev_server}/api/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_public_config_is_served_for_the_dashboard(dev_server: str) -> None:
    config = httpx.get(f"{dev_server}/config.json").json()
    assert config["apiBaseUrl"] == "/api"
    assert config["wsUrl"].endswith("/ws")


def test_management_api_answers_gone_for_unknown_connections(dev_server: str) -> None:
    response = httpx.post(f"{dev_server}/local/@connections/nope", content=b"{}")
    assert response.status_code == 410


def test_openapi_and_docs_are_served(dev_server: str) -> None:
    spec = httpx.get(f"{dev_server}/api/openapi.json").json()
    assert "/health" in spec["paths"]
    assert httpx.get(f"{dev_server}/api/docs").status_code == 200


def test_schedule_runner_fires_scheduled_events_at_the_functions(local_env: dict[str, str]) -> None:
    # Given the template's schedules and the in-process invoker
    template = read_template()
    runner = ScheduleRunner(template, LocalInvoker(template), log=lambda line: None)
    # When each schedule fires once
    results = [runner.fire(s.function, s.name) for s in template.schedules]
    # Then every scheduled function accepted its EventBridge event
    assert all(r["ok"] for r in results), json.dumps(results)
