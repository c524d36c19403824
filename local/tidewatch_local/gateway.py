"""The local API gateway: what API Gateway does in AWS, for the local run and the e2e tests.

* HTTP under `/api`: each request becomes an HTTP API payload v2.0 event for the function that
  template.yaml routes it to; the handler's response becomes the HTTP response. Unrouted paths get
  API Gateway's own `{"message":"Not Found"}`.
* WebSocket at `/ws`: $connect / $disconnect / message events go to the template's WebSocket
  routes (route selection on `$request.body.action`); a refused $connect closes with 403.
* The management API at `/@connections/{id}` (POST / GET / DELETE, also under `/{stage}/`), so
  `post_to_connection` through boto3 reaches the open local sockets, and unknown ids answer 410 Gone.
* `/api/docs` is Swagger UI with its script and stylesheet served from `/api/docs/assets/`
  (`tidewatch_local.offline_docs`), so the API docs work without internet.
* `/local/dev-accounts` and `/local/dev-sign`: one-click sign-in as a seeded devnet account
  (`tidewatch_local.dev_signin`), only when the gateway is given the devnet's accounts.
* Everything else serves the built dashboard (single-page app fallback) and `/config.json`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from tidewatch_local.dev_signin import DevAccounts, DevSignInRefused
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.offline_docs import DOCS_ASSETS, DOCS_PATH, offline_docs
from tidewatch_local.template import TemplateModel

API_PREFIX = "/api"
WS_PATH = "/ws"
_TEXT_TYPES = ("text/", "application/json", "application/problem+json", "application/x-www-form-urlencoded")


def _now_strings() -> tuple[str, int]:
    now = datetime.now(UTC)
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(now.timestamp() * 1000)


def _headers(scope: Scope) -> tuple[dict[str, str], list[str]]:
    """Headers as API Gateway passes them: lower-case names, repeated values comma-joined."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers, cookies


def build_http_event(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: dict[str, str],
    cookies: list[str],
    body: bytes,
    route_key: str,
    path_parameters: dict[str, str],
    source_ip: str,
    domain: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    content_type = headers.get("content-type", "")
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    if is_text:
        try:
            body_text = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    time_text, epoch_ms = _now_strings()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": time_text,
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = body_text if is_text else base64.b64encode(body).decode()
    return event


def response_from_result(result: Any) -> Response:
    """Turn a payload 2.0 handler result into an HTTP response, as API Gateway does."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # Payload 2.0 lets a handler return a bare value: API Gateway sends it as JSON with 200.
        return Response(json.dumps(result), status_code=200, media_type="application/json")
    raw_body = result.get("body") or ""
    body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode()
    response = Response(body, status_code=int(result["statusCode"]))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.append(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    return response


@dataclass
class _Connection:
    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    connected_at: float = field(default_factory=time.time)
    source_ip: str = "127.0.0.1"


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
    ) -> None:
        self.template = template
        self.invoker = invoker
        self.stage = stage
        self.static_dir = static_dir
        self.public_config = public_config
        self.dev_accounts = dev_accounts
        self.connections: dict[str, _Connection] = {}
        # Each worker is like a Lambda sandbox's main thread: it has an event loop of its own
        # (Mangum drives the ASGI app with asyncio.get_event_loop()).
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="lambda",
            initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop()),
        )

    async def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.invoker.invoke, function, event)

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send))
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
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return await self._api(request, path[len(API_PREFIX) :] or "/")
        if path in (f"/{self.stage}/dev-accounts", f"/{self.stage}/dev-sign"):
            return await self._dev_signin(request, path.rsplit("/", 1)[1])
        parts = path.strip("/").split("/")
        if "@connections" in parts[:2]:
            index = parts.index("@connections")
            if index + 1 < len(parts):
                return await self._management(request, parts[index + 1])
        if path == "/config.json" and self.public_config is not None:
            return JSONResponse(self.public_config(request))
        return self._static(path)

    async def _api(self, request: Request, path: str) -> Response:
        method = request.method.upper()
        matched = self.template.match_http(method, path)
        if matched is None and method == "OPTIONS":
            # CORS preflight: API Gateway forwards it when a route exists for the path.
            matched = next(
                (m for m in (self.template.match_http(r.method, path) for r in self.template.http_routes) if m),
                None,
            )
        if matched is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        route, params = matched
        headers, cookies = _headers(request.scope)
        client = request.client.host if request.client else "127.0.0.1"
        event = build_http_event(
            method=method,
            path=path,
            query_string=request.url.query,
            headers=headers,
            cookies=cookies,
            body=await request.body(),
            route_key=route.route_key,
            path_parameters=params,
            source_ip=client,
            domain=request.url.netloc,
        )
        try:
            result = await self._invoke(route.function, event)
        except Exception:  # API Gateway answers a crashed integration with a bare 500
            # The function's own log shows the error, as CloudWatch would; the client sees no internals.
            logging.getLogger("tidewatch.gateway").exception("function %s failed", route.function)
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        return response_from_result(result)

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

    # ------------------------------------------------------------------ WebSocket
    def management_endpoint(self, host: str) -> str:
        return f"http://{host}/{self.stage}"

    def _ws_event(self, route_key: str, event_type: str, connection_id: str, host: str) -> dict[str, Any]:
        time_text, epoch_ms = _now_strings()
        return {
            "requestContext": {
                "routeKey": route_key,
                "eventType": event_type,
                "connectionId": connection_id,
                "domainName": host,
                "stage": self.stage,
                "apiId": "local",
                "requestId": uuid.uuid4().hex[:16],
                "requestTimeEpoch": epoch_ms,
                "requestTime": time_text,
                "connectedAt": int(self.connections[connection_id].connected_at * 1000)
                if connection_id in self.connections
                else epoch_ms,
                "messageDirection": "IN",
            },
            "isBase64Encoded": False,
        }

    async def _websocket(self, socket: WebSocket) -> None:
        if socket.url.path != WS_PATH:
            await socket.close(code=1008)
            return
        routes = self.template.websocket_routes
        connection_id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode()
        host = socket.headers.get("host", "127.0.0.1")
        connect_event = self._ws_event("$connect", "CONNECT", connection_id, host)
        headers, _ = _headers(socket.scope)
        connect_event["headers"] = headers
        query = dict(parse_qsl(socket.url.query, keep_blank_values=True))
        if query:
            connect_event["queryStringParameters"] = query
        if "$connect" in routes:
            result = await self._invoke(routes["$connect"], connect_event)
            status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
            if status != 200:
                await socket.close(code=1008)  # before accept: the client sees HTTP 403
                return
        await socket.accept()
        client = socket.client.host if socket.client else "127.0.0.1"
        self.connections[connection_id] = _Connection(socket, asyncio.get_running_loop(), source_ip=client)
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                body: str = text if isinstance(text, str) else (message.get("bytes") or b"").decode()
                route_key = "$default"
                try:
                    action = json.loads(body).get("action")
                    if isinstance(action, str) and action in routes:
                        route_key = action
                except (ValueError, AttributeError):
                    pass
                if route_key not in routes:
                    continue
                event = self._ws_event(route_key, "MESSAGE", connection_id, host)
                event["body"] = body
                result = await self._invoke(routes[route_key], event)
                # A route response (integration result with a body) goes back to the caller.
                if isinstance(result, dict) and result.get("body"):
                    await socket.send_text(str(result["body"]))
        except WebSocketDisconnect:
            pass
        finally:
            self.connections.pop(connection_id, None)
            if "$disconnect" in routes:
                await self._invoke(
                    routes["$disconnect"], self._ws_event("$disconnect", "DISCONNECT", connection_id, host)
                )

    async def _management(self, request: Request, connection_id: str) -> Response:
        connection = self.connections.get(connection_id)
        if connection is None:
            return JSONResponse({"message": "Gone"}, status_code=410, headers={"x-amzn-errortype": "GoneException"})
        if request.method == "POST":
            data = await request.body()
            try:
                await connection.socket.send_text(data.decode("utf-8"))
            except UnicodeDecodeError:
                await connection.socket.send_bytes(data)
            except (RuntimeError, WebSocketDisconnect):
                self.connections.pop(connection_id, None)
                return JSONResponse({"message": "Gone"}, status_code=410, headers={"x-amzn-errortype": "GoneException"})
            return Response(status_code=200)
        if request.method == "DELETE":
            self.connections.pop(connection_id, None)
            await connection.socket.close()
            return Response(status_code=204)
        return JSONResponse(
            {
                "connectedAt": datetime.fromtimestamp(connection.connected_at, UTC).isoformat(),
                "identity": {"sourceIp": connection.source_ip},
                "lastActiveAt": datetime.now(UTC).isoformat(),
            }
        )


class ScheduleRunner:
    """Fires the template's EventBridge schedules (rate expressions) at their rates."""

    def __init__(self, template: TemplateModel, invoker: LocalInvoker, *, log: Callable[[str], None] = print) -> None:
        self.template = template
        self.invoker = invoker
        self.log = log
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def scheduled_event(rule_name: str) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            # EventBridge stamps the scheduled time at whole seconds.
            "time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule_name}"],
            "detail": {},
        }

    def fire(self, schedule_function: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        event = payload if payload is not None else self.scheduled_event(name)
        result = self.invoker.invoke(schedule_function, event)
        ok = isinstance(result, dict) and result.get("ok", True)
        self.log(f"[schedule] {name}: {'ok' if ok else result}")
        return result

    def start(self, *, first_delay: float = 2.0, interval_override: float | None = None) -> None:
        for schedule in self.template.schedules:
            interval = interval_override or schedule.interval_seconds
            if interval is None:
                self.log(f"[schedule] {schedule.name}: {schedule.expression} is not a rate(); not fired locally")
                continue
            thread = threading.Thread(
                target=self._loop,
                args=(schedule.function, schedule.name, interval, first_delay, schedule.input),
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _loop(
        self, function: str, name: str, interval: float, first_delay: float, payload: dict[str, Any] | None = None
    ) -> None:
        if self._stop.wait(first_delay):
            return
        while not self._stop.is_set():
            try:
                self.fire(function, name, payload)
            except Exception as exc:  # a failed tick is logged and retried next time, as EventBridge would
                self.log(f"[schedule] {name} failed: {type(exc).__name__}: {exc}")
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
