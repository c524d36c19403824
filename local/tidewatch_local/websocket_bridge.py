"""The WebSocket API and its management API (`@connections`), bridged to the open local sockets.

* `/ws`: $connect / $disconnect / message events go to the template's WebSocket routes (route
  selection on `$request.body.action`); a refused $connect closes with 403, and a route response
  (a result with a body) goes back to the caller.
* `/@connections/{id}` (POST / GET / DELETE, also under `/{stage}/`): `post_to_connection`
  reaches the socket of that id; an unknown id answers 410 Gone as API Gateway does. POST is the
  hot path of every broadcast, so it is answered on the raw ASGI interface: the body is read and
  sent over the socket with no request or response objects in between.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from tidewatch_local.http_events import Invoke, now_strings, request_headers

WS_PATH = "/ws"
_GONE_HEADERS = {"x-amzn-errortype": "GoneException"}
_POSTED = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_EMPTY_BODY = {"type": "http.response.body", "body": b""}


@dataclass
class Connection:
    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    connected_at: float = field(default_factory=time.time)
    source_ip: str = "127.0.0.1"


def connection_id_of(path: str) -> str | None:
    """The id in `/@connections/{id}` or `/{stage}/@connections/{id}`; None for other paths."""
    parts = path.strip("/").split("/")
    if "@connections" in parts[:2]:
        index = parts.index("@connections")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class WebSocketBridge:
    """Open sockets by connection id, the events of the WebSocket routes, and `@connections`."""

    def __init__(
        self, routes: dict[str, str], invoke: Invoke, *, stage: str, management_host: str | None = None
    ) -> None:
        self.routes = routes
        self.stage = stage
        # Where this process answers `@connections` for its own sockets (host:port). An event's
        # `domainName` is where its connection is managed, as in API Gateway, so the $connect
        # handler records it; unset, the request's Host header (one process: the same port).
        self.management_host = management_host
        self._invoke = invoke
        self.connections: dict[str, Connection] = {}

    def management_endpoint(self, host: str | None = None) -> str:
        """The management API of this process's sockets (at `host` when it has no host of its own)."""
        return f"http://{self.management_host or host or '127.0.0.1'}/{self.stage}"

    def _event(self, route_key: str, event_type: str, connection_id: str, host: str) -> dict[str, Any]:
        time_text, epoch_ms = now_strings()
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

    # ------------------------------------------------------------------ the WebSocket API
    async def serve(self, socket: WebSocket) -> None:
        if socket.url.path != WS_PATH:
            await socket.close(code=1008)
            return
        routes = self.routes
        connection_id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode()
        host = self.management_host or socket.headers.get("host", "127.0.0.1")
        connect_event = self._event("$connect", "CONNECT", connection_id, host)
        headers, _ = request_headers(socket.scope)
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
        self.connections[connection_id] = Connection(socket, asyncio.get_running_loop(), source_ip=client)
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
                event = self._event(route_key, "MESSAGE", connection_id, host)
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
                await self._invoke(routes["$disconnect"], self._event("$disconnect", "DISCONNECT", connection_id, host))

    # ------------------------------------------------------------------ the management API
    async def manage(self, connection_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        connection = self.connections.get(connection_id)
        method = scope["method"]
        if method == "POST":
            data = await _read_body(receive)
            if connection is not None and await self._post(connection_id, connection, data):
                await send(_POSTED)
                await send(_EMPTY_BODY)
                return
        response = await self._answer(method, connection_id, connection)
        await response(scope, receive, send)

    async def _post(self, connection_id: str, connection: Connection, data: bytes) -> bool:
        """Send `data` over the socket; False (and the id forgotten) when the socket has gone."""
        try:
            await connection.socket.send_text(data.decode("utf-8"))
        except UnicodeDecodeError:
            await connection.socket.send_bytes(data)
        except (RuntimeError, WebSocketDisconnect):
            self.connections.pop(connection_id, None)
            return False
        return True

    async def _answer(self, method: str, connection_id: str, connection: Connection | None) -> Response:
        if connection is None or method == "POST":  # unknown, or its socket went away while posting
            return JSONResponse({"message": "Gone"}, status_code=410, headers=_GONE_HEADERS)
        if method == "DELETE":
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
