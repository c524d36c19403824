"""`Idempotency-Key` on create routes: a retried create answers what the first one answered.

A client that lost a response (timeout, dropped connection) retries with the same key: the same
key and the same body replay the stored response (status, body, Location) without running the
route again, so no second row is created; the same key with another body is a 422 problem
(`idempotency-key-reused`); a retry while the first is still running is a 409 problem with
Retry-After. Records are per user (the bearer token's subject), kept 24 hours, behind an
`IdempotencyRepository` (api.repository): PostgreSQL over the app's database unless one is given.
Responses of 5xx are not stored: the create did not happen, so a retry runs it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps.services import services_of
from api.problems import problem_body, problem_response
from api.repository import IdempotencyRepository, PostgresIdempotencyKeys
from tidewatch import deadline
from tidewatch.errors import DomainError

HEADER = b"idempotency-key"
# Printable ASCII without spaces, as the OpenAPI documents for the header.
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
KEEP_HOURS = 24
FINISH_SECONDS = 2.0
_REPLAYED_HEADERS = {b"content-type", b"location"}


class IdempotencyMiddleware:
    """Wraps the POST routes in `paths` (exact paths); other requests pass through untouched.

    `keys` holds the records; without it, PostgreSQL over the app's database."""

    def __init__(self, app: ASGIApp, paths: Iterable[str], keys: IdempotencyRepository | None = None) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        raw_key = _header(scope, HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not KEY_PATTERN.match(key):
            await _problem(
                scope,
                receive,
                send,
                "validation-error",
                "Validation failed",
                422,
                "Idempotency-Key must be 1 to 128 printable ASCII characters without spaces",
                errors=[{"field": "Idempotency-Key", "message": "1-128 printable ASCII characters", "in": "header"}],
            )
            return
        user_id = _user_id(scope)
        if user_id is None:  # no valid token: the route answers 401 itself
            await self.app(scope, receive, send)
            return
        try:
            body, more = await _read_body(receive)
        except _TooLarge as exc:
            await _problem(scope, receive, send, "payload-too-large", "Payload too large", 413, str(exc))
            return
        if more is not None:  # over the body limit or a disconnect: let the app answer as usual
            await self.app(scope, _replay(body, more), send)
            return
        fingerprint = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        keys = self.keys if self.keys is not None else PostgresIdempotencyKeys(services_of(scope["app"]).deps.database)
        try:
            claimed = await run_in_threadpool(_claim, keys, user_id, key, scope["path"], fingerprint)
            if not claimed:
                await self._answer_existing(keys, scope, receive, send, user_id, key, fingerprint)
                return
        except DomainError as exc:  # the database is down or too slow: a clean problem
            await problem_response(exc.to_problem() | {"instance": scope["path"]}, getattr(exc, "headers", None))(
                scope, receive, send
            )
            return
        await self._run_and_store(keys, scope, body, send, user_id, key)

    async def _answer_existing(
        self,
        keys: IdempotencyRepository,
        scope: Scope,
        receive: Receive,
        send: Send,
        user_id: int,
        key: str,
        fingerprint: str,
    ) -> None:
        row = await run_in_threadpool(_load, keys, user_id, key)
        if row is None or row["request_hash"] != fingerprint or row["route"] != scope["path"]:
            await _problem(
                scope,
                receive,
                send,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                422,
                "this Idempotency-Key was used with another request; use a new key for a new request",
            )
            return
        if row["status"] is None:
            await _problem(
                scope,
                receive,
                send,
                "idempotency-key-in-progress",
                "Request in progress",
                409,
                "a request with this Idempotency-Key is still being processed; retry shortly",
                headers={"Retry-After": "1"},
            )
            return
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in row["headers"]]
        headers.append((b"idempotency-replayed", b"true"))
        await send({"type": "http.response.start", "status": row["status"], "headers": headers})
        await send({"type": "http.response.body", "body": bytes(row["body"])})

    async def _run_and_store(
        self, keys: IdempotencyRepository, scope: Scope, body: bytes, send: Send, user_id: int, key: str
    ) -> None:
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, _replay(body, None), capture)
        finally:
            kept = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k.lower() in _REPLAYED_HEADERS]
            # If the database fails here the record stays "in progress" and expires; the answer went out.
            with contextlib.suppress(DomainError):
                await run_in_threadpool(_finish, keys, user_id, key, status, kept, b"".join(chunks))


class _TooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return bytes(v)
    return None


def _user_id(scope: Scope) -> int | None:
    auth = _header(scope, b"authorization")
    if not auth or not auth.lower().startswith(b"bearer "):
        return None
    tokens = services_of(scope["app"]).tokens
    if tokens is None:
        return None
    try:
        return int(tokens.verify(auth[7:].decode("latin-1").strip()).user_id)
    except (DomainError, ValueError):
        return None


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body; or what was read plus the first non-body message (e.g. a disconnect)."""
    parts: list[bytes] = []
    while True:
        try:
            message = await receive()
        except StarletteHTTPException as exc:  # over the body limit
            raise _TooLarge(str(exc.detail)) from exc
        if message["type"] != "http.request":
            return b"".join(parts), message
        parts.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            return b"".join(parts), None


def _replay(body: bytes, then: Message | None) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return then or {"type": "http.disconnect"}

    return receive


async def _problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    slug: str,
    title: str,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    body = problem_body(slug, title, status, detail, **extra) | {"instance": scope.get("path", "")}
    await problem_response(body, headers)(scope, receive, send)


def _claim(keys: IdempotencyRepository, user_id: int, key: str, route: str, fingerprint: str) -> bool:
    with keys.session() as records:
        return records.claim(user_id=user_id, key=key, route=route, fingerprint=fingerprint, keep_hours=KEEP_HOURS)


def _load(keys: IdempotencyRepository, user_id: int, key: str) -> dict[str, Any] | None:
    with keys.session() as records:
        return records.load(user_id=user_id, key=key)


def _finish(
    keys: IdempotencyRepository, user_id: int, key: str, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    # Runs even when the request used up its deadline (that is when a 503 must free the key).
    with deadline.bounded(request=FINISH_SECONDS, replace=True), keys.session() as records:
        if status >= 500:
            # Nothing was created: the next attempt with this key runs the route again.
            records.release(user_id=user_id, key=key)
            return
        records.complete(user_id=user_id, key=key, status=status, headers=headers, body=body)
