"""The local API gateway: what API Gateway does in AWS, for the local run and the e2e tests.

One ASGI app that routes each request to the part that plays it:
* HTTP under `/api` → `tidewatch_local.http_events` (payload 2.0 events for the template's routes);
* WebSocket at `/ws` and the management API at `/@connections/{id}` (also under `/{stage}/`) →
  `tidewatch_local.websocket_bridge`;
* `/api/docs`: Swagger UI with its script and stylesheet served from `/api/docs/assets/`
  (`tidewatch_local.offline_docs`), so the API docs work without internet;
* `/local/dev-accounts` and `/local/dev-sign`: one-click sign-in as a seeded devnet account
  (`tidewatch_local.dev_signin`), only when the gateway is given the devnet's accounts;
* everything else: the built dashboard (single-page app fallback) and `/config.json`.
The schedules run beside it (`tidewatch_local.schedules`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from tidewatch_local.dev_signin import DevAccounts, DevSignInRefused
from tidewatch_local.http_events import HttpApiBridge
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.offline_docs import DOCS_ASSETS, DOCS_PATH, offline_docs
from tidewatch_local.template import TemplateModel
from tidewatch_local.websocket_bridge import Connection, WebSocketBridge, connection_id_of

API_PREFIX = "/api"
# How uvicorn serves the gateway (`tidewatch dev`, the push benchmark).
SERVER_OPTIONS: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "ws": "websockets-sansio"}


def _under_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class LocalGateway:
    def __init__(
        self,
        template: TemplateModel,
        invoker: LocalInvoker,
        *,
        stage: str = "local",
        static_dir: Path | None = None,
        public_config: Callable[[Request], dict[str, Any]] | None = None,
        dev_accounts: DevAccounts | None = None,
        workers: int = 16,
        management_host: str | None = None,
    ) -> None:
        self.template = template
        self.invoker = invoker
        self.stage = stage
        self.static_dir = static_dir
        self.public_config = public_config
        self.dev_accounts = dev_accounts
        # Each worker is like a Lambda sandbox's main thread: it has an event loop of its own
        # (Mangum drives the ASGI app with asyncio.get_event_loop()).
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="lambda",
            initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop()),
        )
        self.http_api = HttpApiBridge(template, self._invoke)
        self.websockets = WebSocketBridge(
            template.websocket_routes, self._invoke, stage=stage, management_host=management_host
        )

    @property
    def connections(self) -> dict[str, Connection]:
        """The open WebSocket connections by id."""
        return self.websockets.connections

    def management_endpoint(self, host: str | None = None) -> str:
        return self.websockets.management_endpoint(host)

    async def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.invoker.invoke, function, event)

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self.websockets.serve(WebSocket(scope, receive, send))
        elif not _under_api(scope["path"]) and (connection_id := connection_id_of(scope["path"])) is not None:
            await self.websockets.manage(connection_id, scope, receive, send)
        else:
            response = await self._http(Request(scope, receive))
            await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, request: Request) -> Response:
        path = request.url.path
        if path == API_PREFIX + DOCS_PATH or path.startswith(API_PREFIX + DOCS_ASSETS):
            docs = offline_docs(path[len(API_PREFIX) :], openapi_url=API_PREFIX + "/openapi.json", prefix=API_PREFIX)
            if docs is not None:
                return docs
        if _under_api(path):
            return await self.http_api.handle(request, path[len(API_PREFIX) :] or "/")
        if path in (f"/{self.stage}/dev-accounts", f"/{self.stage}/dev-sign"):
            return await self._dev_signin(request, path.rsplit("/", 1)[1])
        if path == "/config.json" and self.public_config is not None:
            return JSONResponse(self.public_config(request))
        return self._static(path)

    async def _dev_signin(self, request: Request, action: str) -> Response:
        accounts = self.dev_accounts
        if accounts is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        if action == "dev-accounts" and request.method == "GET":
            return JSONResponse({"accounts": accounts.public()}, headers={"Cache-Control": "no-store"})
        if action != "dev-sign" or request.method != "POST":
            return JSONResponse({"message": "Method Not Allowed"}, status_code=405)
        try:
            body = json.loads(await request.body() or b"null")
            if not isinstance(body, dict) or not isinstance(body.get("label"), str):
                raise DevSignInRefused("send {label, message}")
            if not isinstance(body.get("message"), str):
                raise DevSignInRefused("send {label, message}")
            signature = accounts.sign(body["label"], body["message"])
        except (ValueError, DevSignInRefused) as exc:
            detail = str(exc) if isinstance(exc, DevSignInRefused) else "the body must be JSON"
            return JSONResponse(
                {"type": "about:blank", "title": "Dev sign-in refused", "status": 400, "detail": detail},
                status_code=400,
                media_type="application/problem+json",
            )
        return JSONResponse({"signature": signature}, headers={"Cache-Control": "no-store"})

    def _static(self, path: str) -> Response:
        if self.static_dir is None or not (self.static_dir / "index.html").is_file():
            return PlainTextResponse(
                "Tidewatch local gateway. The API is under /api (try /api/health); "
                "build the dashboard (npm run build in dashboard/) to serve it here.",
                status_code=404 if path != "/" else 200,
            )
        root = self.static_dir.resolve()
        candidate = (root / path.lstrip("/")).resolve()
        if candidate.is_file() and root in candidate.parents:
            return FileResponse(candidate)
        return FileResponse(root / "index.html")  # single-page app: the client routes
