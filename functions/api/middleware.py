"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request): request id, body limit."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_body, problem_response
from tidewatch import deadline
from tidewatch.observability import logger

REQUEST_ID_HEADER = b"x-request-id"
# A client-supplied id is echoed only if it is short and plain (it ends up in logs and headers).
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:=-]{1,128}$")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _lambda_request_id(scope: Scope) -> str | None:
    event: Any = scope.get("aws.event")
    if isinstance(event, dict):
        context = event.get("requestContext") or {}
        rid = context.get("requestId")
        if isinstance(rid, str):
            return rid
    return None


class RequestIdMiddleware:
    """Every response carries `X-Request-Id`: the caller's (if sane), else API Gateway's, else new.

    The id is also put on the structured logger so every log line of the request carries it, and
    one access line per request records method, route, status, duration and user.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, REQUEST_ID_HEADER)
        candidate = supplied.decode("latin-1") if supplied else None
        request_id = (
            candidate if candidate and _SAFE_ID.match(candidate) else _lambda_request_id(scope) or uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        logger.append_keys(request_id=request_id)
        raw_id = request_id.encode()
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, raw_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            logger.info(
                "request",
                extra={
                    "http_method": scope.get("method"),
                    "route": getattr(route, "path", None) or scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": scope.get("state", {}).get("user_id"),
                },
            )
            logger.remove_keys(["request_id"])


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with a 413 problem, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> Any:
        return problem_response(
            problem_body(
                "payload-too-large",
                "Payload too large",
                413,
                f"The request body exceeds {self.max_bytes} bytes.",
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False
            if too_large:
                await self._too_large()(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            # Raised inside the route's body read, so the app's own HTTP error handler answers 413.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise StarletteHTTPException(413, f"The request body exceeds {self.max_bytes} bytes.")
            return message

        await self.app(scope, limited_receive, send)


class DeadlineMiddleware:
    """Gives every request one time budget that the database and RPC layers consult.

    `request_seconds` bounds the whole request (well below the function's timeout, so a stalled
    dependency ends in a stale answer or a 503 problem the client actually receives); RPC reads
    share the tighter `rpc_seconds` in total, leaving time to write and answer after them.
    """

    def __init__(self, app: ASGIApp, request_seconds: float, rpc_seconds: float) -> None:
        self.app = app
        self.request_seconds = request_seconds
        self.rpc_seconds = rpc_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with deadline.bounded(request=self.request_seconds, rpc=self.rpc_seconds):
            await self.app(scope, receive, send)
