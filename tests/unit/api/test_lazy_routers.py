"""Routers included on first request (api.lazy_routers) serve what the eagerly built app serves:
the same routes in the same order, the same OpenAPI document, the same 404/405 answers."""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

import api.app
from api.app import ROUTERS, create_app
from api.lazy_routers import LazyRouter, RouterTable, router_table_of
from tests.import_probe import modules_after
from tidewatch_local.openapi_doc import documentation_app, render


def _table(app: FastAPI) -> RouterTable:
    table = router_table_of(app)
    assert table is not None
    return table


def _describe(route: BaseRoute) -> tuple[object, ...]:
    included = getattr(route, "original_router", None)  # an included router's entry
    if included is not None:
        return ("router", tuple(_describe(r) for r in included.routes))
    return (type(route).__name__, getattr(route, "path", ""), tuple(sorted(getattr(route, "methods", None) or ())))


def _routes(app: FastAPI) -> list[tuple[object, ...]]:
    return [_describe(route) for route in app.router.routes]


def _eager_app() -> FastAPI:
    app = documentation_app()
    return create_app(app.state.services.deps, lazy_routers=False)


def test_the_table_names_exactly_the_first_segments_of_each_routers_routes() -> None:
    # Given every router module of the table, imported
    claimed: dict[str, str] = {}
    for entry in ROUTERS:
        router = importlib.import_module(entry.module).router
        # When the first segments of its routes are collected
        segments = {route.path.lstrip("/").split("/", 1)[0] for route in router.routes}
        # Then they are the segments the table declares for it, and no other router claims them
        assert segments == set(entry.segments), entry.module
        for segment in segments:
            assert claimed.setdefault(segment, entry.module) == entry.module, segment


def test_a_table_refuses_two_routers_on_one_segment() -> None:
    with pytest.raises(ValueError, match="health"):
        RouterTable(FastAPI(), [LazyRouter("api.routers.health", frozenset({"health"}))] * 2)


def test_once_all_are_included_the_routes_and_openapi_document_equal_the_eager_apps() -> None:
    # Given a lazy app that has served a request under one router first, and an eager app
    lazy, eager = documentation_app(), _eager_app()
    with TestClient(lazy, raise_server_exceptions=False) as client:
        client.get("/transactions/no/such/path")
    assert _table(lazy).included_modules() == ["api.routers.transactions"]
    # When the lazy app builds its OpenAPI document (which includes every router)
    document = render(lazy)
    # Then its document and its route list, in order, are the eager app's
    assert document == render(eager)
    assert _table(lazy).complete
    assert _routes(lazy) == _routes(eager)


@pytest.mark.parametrize(
    ("method", "path", "loaded"),
    [
        ("GET", "/notifications/none/at/all", ["api.routers.rules"]),  # 404 within a router's segment
        ("GET", "/auth/none", ["api.routers.auth"]),
        # 405: the Allow header is read from the complete OpenAPI document (api.problems), which
        # includes every router
        ("PUT", "/portfolios", [r.module for r in ROUTERS]),
        ("POST", "/health", [r.module for r in ROUTERS]),
        ("GET", "/no-such-area", [r.module for r in ROUTERS]),  # 404: every router first
        ("GET", "/", [r.module for r in ROUTERS]),
    ],
)
def test_a_request_includes_its_routers_router_and_answers_as_the_eager_app(
    method: str, path: str, loaded: list[str]
) -> None:
    # Given a lazy app and an eager app
    lazy, eager = documentation_app(), _eager_app()
    with TestClient(lazy, raise_server_exceptions=False) as a, TestClient(eager, raise_server_exceptions=False) as b:
        # When the same request reaches both
        first, second = a.request(method, path), b.request(method, path)
    # Then only the path's router was included (every router for an unknown segment or a 405)
    assert _table(lazy).included_modules() == loaded
    # And both answered alike
    assert (first.status_code, first.headers.get("allow"), first.json()) == (
        second.status_code,
        second.headers.get("allow"),
        second.json(),
    )
    assert first.status_code in (404, 405)


def test_a_router_that_cannot_be_imported_answers_a_problem_500(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a table entry whose module does not import
    broken = LazyRouter("api.routers.no_such_module", frozenset({"broken"}))
    monkeypatch.setattr(api.app, "ROUTERS", (*ROUTERS, broken))
    app = documentation_app()
    # When its path is requested
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    # Then the guard answers with the problem document of an unexpected error
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_handlers_cold_start_imports_no_router_and_the_snapshot_hook_includes_them_all() -> None:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "T"}
    # Given a fresh interpreter that imports the api's handler
    cold = modules_after("import api.handler", timeout=120, **env)
    # Then no router module (nor the areas' models they bring) was imported
    assert "api.handler" in cold
    assert not {m for m in cold if m.startswith("api.routers")}
    assert not cold & {"tidewatch.billing.stripe_objects", "tidewatch.rules.model", "tidewatch.forecast.payloads"}
    # When SnapStart's before-snapshot hooks run after the import
    snap = modules_after(
        "import api.handler; from tidewatch import snapstart; snapstart.run_before_snapshot(); "
        "from api.lazy_routers import router_table_of; assert router_table_of(api.handler.app).complete",
        timeout=120,
        **env,
    )
    # Then every router is in the snapshot
    assert {r.module for r in ROUTERS} <= snap
