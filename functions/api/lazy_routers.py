"""Routers included when their path is first requested, so a cold start registers only what it serves.

Declaring a router's routes costs most of what the api's import costs beyond FastAPI itself:
FastAPI analyses each route's dependency tree and builds its request and response fields, and the
router modules import their areas' models. `RouterTable` keeps, per router module, the first path
segments its routes live under (`/portfolios/...` → `portfolios`); `IncludeRoutersMiddleware`
includes the router of the requested path's first segment before the request reaches the routes.

What stays the same as including every router at once:
* route order: after each inclusion the app's routes are rebuilt in the order of the table (after
  FastAPI's own documentation routes, before anything added to the app later), so whichever
  routers are loaded, they match in the order an eagerly built app would try them;
* 404 and 405: no two routers share a first segment (a unit test checks the table against the
  routers), so a path's answer depends on its own router only; a path under no known segment
  includes every router first, so it meets the complete route list;
* the OpenAPI document: `app.openapi()` includes every router before building it;
* errors: the middleware sits inside every guard but the database-error mapping, so a router
  that fails to import answers the same problem+json 500 as a route that fails.

`include_all` is what a SnapStart snapshot runs before it is taken (api.handler), so restored
containers start with every route registered.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class LazyRouter:
    module: str  # a module with a module-level `router` (an APIRouter)
    segments: frozenset[str]  # the first path segments of its routes, without slashes


class RouterTable:
    """The app's routers by first path segment; includes each one once, on demand."""

    def __init__(self, app: FastAPI, routers: Sequence[LazyRouter]) -> None:
        by_segment: dict[str, int] = {}
        for index, router in enumerate(routers):
            for segment in router.segments:
                if segment in by_segment:
                    raise ValueError(f"path segment {segment!r} claimed by two routers")
                by_segment[segment] = index
        self._app = app
        self._routers = tuple(routers)
        self._by_segment = by_segment
        self._builtin = list(app.router.routes)  # FastAPI's /openapi.json, /docs, /redoc
        self._included: dict[int, list[BaseRoute]] = {}
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        return len(self._included) == len(self._routers)

    def included_modules(self) -> list[str]:
        return [self._routers[i].module for i in sorted(self._included)]

    def include_for_path(self, path: str) -> None:
        """Include the router that serves `path`; every router if no router claims its segment."""
        if self.complete:
            return
        index = self._by_segment.get(path.lstrip("/").split("/", 1)[0])
        self._include(range(len(self._routers)) if index is None else (index,))

    def include_all(self) -> None:
        if not self.complete:
            self._include(range(len(self._routers)))

    def _include(self, indexes: Iterable[int]) -> None:
        with self._lock:
            missing = [i for i in indexes if i not in self._included]
            if not missing:
                return
            routes = self._app.router.routes
            for index in missing:
                router: APIRouter = importlib.import_module(self._routers[index].module).router
                before = len(routes)
                self._app.include_router(router)
                self._included[index] = routes[before:]
            ours = {id(route) for added in self._included.values() for route in added}
            builtin = {id(route) for route in self._builtin}
            later = [route for route in routes if id(route) not in ours and id(route) not in builtin]
            routes[:] = [
                *self._builtin,
                *(route for i in sorted(self._included) for route in self._included[i]),
                *later,
            ]


class IncludeRoutersMiddleware:
    """Includes the requested path's router before the request reaches the routes."""

    def __init__(self, app: ASGIApp, table: RouterTable) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.table.complete:
            self.table.include_for_path(_route_path(scope))
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the routes are matched against: the request path below the app's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


_TABLES: weakref.WeakKeyDictionary[FastAPI, RouterTable] = weakref.WeakKeyDictionary()


def install_router_table(app: FastAPI, routers: Sequence[LazyRouter]) -> RouterTable:
    table = _TABLES[app] = RouterTable(app, routers)
    return table


def router_table_of(app: FastAPI) -> RouterTable | None:
    """The table `create_app` built for `app` (None for an app built otherwise)."""
    return _TABLES.get(app)
