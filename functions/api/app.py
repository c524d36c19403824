"""The FastAPI application factory: routers, middleware and error mapping, from an `ApiDeps`.

Areas plug in as one router module each (`api.routers.*`), listed in `ROUTERS` below with the
first path segments their routes live under; each is imported and included when a request first
reaches its segment (`api.lazy_routers`: a cold start registers only the routes it serves; the
OpenAPI document and a SnapStart snapshot include them all). Routes
reach their collaborators through the typed aliases of `api.deps`, resolved against the `Services`
built here from the one `ApiDeps`. Middleware order, outermost first: request id → CORS →
unexpected-error guard → deadline → body size limit → storable-text check → Idempotency-Key replay
→ router inclusion → database-error mapping → routes (where auth and rate limiting are
dependencies).
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

# Before any route is declared: FastAPI's pydantic.v1 check without importing pydantic.v1.
import api.pydantic_v1_check  # noqa: F401
from api.deps import ApiDeps, build_services
from api.deps.services import install_services
from api.idempotency import IdempotencyMiddleware
from api.lazy_routers import IncludeRoutersMiddleware, LazyRouter, install_router_table
from api.middleware import BodySizeLimitMiddleware, DeadlineMiddleware, RequestIdMiddleware
from api.openapi import install_openapi
from api.problems import UnexpectedErrorMiddleware, install_problem_handlers
from api.text_input import StorableTextMiddleware

API_TITLE = "Tidewatch API"
API_VERSION = "0.1.0"
API_DESCRIPTION = (
    "DeFi yield and risk monitoring. Sign in with Ethereum (`GET /auth/nonce`, `POST /auth/verify`), "
    "then send `Authorization: Bearer <access token>`. Errors are RFC 9457 `application/problem+json`."
)


# Create routes that accept `Idempotency-Key` (a retry replays the first answer).
IDEMPOTENT_CREATES = ("/portfolios", "/rules", "/transactions/prepare")


def _router(name: str, *segments: str) -> LazyRouter:
    return LazyRouter(f"api.routers.{name}", frozenset(segments))


# In the order the routers are included (and their routes matched); no two share a segment.
ROUTERS = (
    _router("health", "health"),
    _router("auth", "auth"),
    _router("portfolios", "portfolios"),
    _router("markets", "markets"),
    _router("billing", "billing", "webhooks"),
    _router("rules", "rules", "notifications"),
    _router("transactions", "transactions"),
    _router("positions", "positions"),
    _router("alerts", "alerts"),
)


def routers() -> list[APIRouter]:
    """Every router of the app, imported (what `create_app(deps, lazy_routers=False)` includes)."""
    return [importlib.import_module(r.module).router for r in ROUTERS]


def create_app(deps: ApiDeps, *, lazy_routers: bool = True) -> FastAPI:
    """The app; `lazy_routers=False` includes every router here instead of on first request."""
    app = FastAPI(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION)
    install_services(app, build_services(deps))
    table = install_router_table(app, ROUTERS)
    if not lazy_routers:
        table.include_all()
    install_problem_handlers(app)
    if lazy_routers:
        # Just outside the database-error mapping (the innermost): inside every other guard, so
        # a router that fails to import answers like a failing route.
        app.add_middleware(IncludeRoutersMiddleware, table=table)
    install_openapi(app, before=table.include_all)
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(IdempotencyMiddleware, paths=IDEMPOTENT_CREATES)
    app.add_middleware(StorableTextMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=deps.api.max_body_bytes)
    app.add_middleware(
        DeadlineMiddleware,
        request_seconds=deps.api.request_deadline_seconds,
        rpc_seconds=deps.api.rpc_budget_seconds,
    )
    app.add_middleware(UnexpectedErrorMiddleware)
    # CORS outside the error guard so a browser can read the 500 problem too.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(deps.api.cors_origins),
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-Id", "Idempotency-Key"],
        expose_headers=[
            "X-Request-Id",
            "Retry-After",
            "Idempotency-Replayed",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
        max_age=600,
    )
    app.add_middleware(RequestIdMiddleware)
    return app
