"""The HTTP API's routes in the template and in the FastAPI app are the same set.

Every route is an explicit `Type: HttpApi` event of ApiFunction (no `/{proxy+}` catch-all), so
API Gateway answers unknown paths itself and the template documents the public surface. The app's
routes come from its OpenAPI schema plus FastAPI's own documentation routes.
"""

from __future__ import annotations

import re

from fastapi import FastAPI

from api.app import create_app
from api.deps import ApiDeps
from tidewatch.cache import connect_redis
from tidewatch.db import Database
from tidewatch_local.template import read_template

# The one list to edit while areas land: routes the template already serves whose router is not
# yet in api.app (other areas are building them). When a router lands, its routes leave this set;
# the test fails until they do, so the list cannot go stale.
PENDING_IN_APP: set[str] = set()

# FastAPI routes deliberately not exposed through API Gateway (Swagger UI's OAuth helper, ReDoc).
NOT_EXPOSED = {"GET /docs/oauth2-redirect", "GET /redoc"}

_PARAMETER = re.compile(r"\{[^}]+\}")


def _key(method: str, path: str) -> str:
    """`GET /rules/{rule_id}` → `GET /rules/{}`: API Gateway matches by shape, not parameter name."""
    shape = _PARAMETER.sub("{}", path)
    return f"{method.upper()} {shape}"


def _app() -> FastAPI:
    # Lazy collaborators: building the app opens no connection.
    deps = ApiDeps(database=Database("postgresql://127.0.0.1:1/unused"), redis=connect_redis("redis://127.0.0.1:1/0"))
    return create_app(deps)


def app_routes() -> set[str]:
    app = _app()
    routes = {_key(method, path) for path, item in app.openapi()["paths"].items() for method in item}
    for url in (app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url, app.redoc_url):
        if url:
            routes.add(_key("GET", url))
    return routes - NOT_EXPOSED


def template_routes() -> set[str]:
    return {_key(route.method, route.path) for route in read_template().http_routes}


def test_template_declares_explicit_routes_only() -> None:
    routes = read_template().http_routes
    assert all(route.method != "ANY" for route in routes)
    assert not [route.path for route in routes if "+}" in route.path], "no proxy catch-all"
    assert {route.function for route in routes} == {"ApiFunction"}


def test_every_app_route_is_in_the_template() -> None:
    missing = app_routes() - template_routes()
    assert not missing, f"routes the app serves but API Gateway would 404: {sorted(missing)}"


def test_every_template_route_is_in_the_app() -> None:
    extra = template_routes() - app_routes() - PENDING_IN_APP
    assert not extra, f"routes in template.yaml the app does not serve: {sorted(extra)}"


def test_pending_routes_are_really_pending() -> None:
    landed = PENDING_IN_APP & app_routes()
    assert not landed, f"these routes landed in the app: remove them from PENDING_IN_APP: {sorted(landed)}"
    assert template_routes() >= PENDING_IN_APP, "a pending route must already be in the template"
