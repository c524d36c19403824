"""The local gateway serves the template's routes through the real handlers, over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tidewatch_local.gateway import LocalGateway, ScheduleRunner
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.stack import apply_environment, resolve_stack
from tidewatch_local.template import read_template

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gateway_url(local_env: dict[str, str]) -> Iterator[str]:
    apply_environment(resolve_stack())
    template = read_template()
    gateway = LocalGateway(template, LocalInvoker(template), public_config=lambda request: {"apiBaseUrl": "/api"})
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(gateway, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "local gateway did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_health_route_through_the_local_gateway(gateway_url: str) -> None:
    # When the health route is requested over HTTP
    response = httpx.get(f"{gateway_url}/api/health", headers={"x-request-id": "req-123"})
    # Then the api handler answered through an HTTP API v2 event, with both stores checked
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"database": True, "cache": True}
    assert response.headers["x-request-id"] == "req-123"


def test_unrouted_paths_get_api_gateways_not_found(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/api/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_public_config_is_served_for_the_dashboard(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/config.json").json() == {"apiBaseUrl": "/api"}


def test_management_api_answers_gone_for_unknown_connections(gateway_url: str) -> None:
    response = httpx.post(f"{gateway_url}/local/@connections/nope", content=b"{}")
    assert response.status_code == 410


def test_schedule_runner_fires_scheduled_events_at_the_functions(local_env: dict[str, str]) -> None:
    # Given the template's schedules and the in-process invoker
    template = read_template()
    runner = ScheduleRunner(template, LocalInvoker(template), log=lambda line: None)
    # When each schedule fires once
    results = [runner.fire(s.function, s.name) for s in template.schedules]
    # Then every scheduled function accepted its EventBridge event
    assert all(r["ok"] for r in results), json.dumps(results)
