"""Refuses text PostgreSQL cannot store, before any route sees it: a 422 problem, not a 500.

PostgreSQL `text` and `jsonb` refuse the NUL character, and UTF-8 (the database encoding) has no
form for an unpaired UTF-16 surrogate (JSON's `"\\ud800"`). Both can arrive in any query
parameter or JSON string, and every route would otherwise meet them as a driver error deep in a
query. This middleware checks query parameters and JSON request bodies once, at the boundary,
and answers a `validation-error` problem naming the field, in the same shape as FastAPI's own.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_body, problem_response

# Cheap pre-check on the raw JSON: a NUL or surrogate can only be written as a \u escape (raw
# control characters are not valid JSON), so bodies without one are passed on unparsed.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_NUL = "\x00"


def text_problem(value: str) -> str | None:
    """Why PostgreSQL cannot store `value`, or None."""
    if _NUL in value:
        return "must not contain NUL (U+0000) characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired UTF-16 surrogates"
    return None


def _walk(value: Any, path: list[str], out: list[dict[str, str]]) -> None:
    if isinstance(value, str):
        if (why := text_problem(value)) is not None:
            out.append({"field": ".".join(path) or "(body)", "message": why, "in": "body"})
    elif isinstance(value, dict):
        for key, item in value.items():
            if (why := text_problem(key)) is not None:
                out.append({"field": ".".join(path) or "(body)", "message": f"property names {why}", "in": "body"})
            _walk(item, [*path, key.replace(_NUL, "\\0")], out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, [*path, str(index)], out)


def query_errors(query_string: bytes) -> list[dict[str, str]]:
    if b"%" not in query_string and b"\x00" not in query_string:
        return []
    # Bytes that are not UTF-8 become lone surrogates here, and are refused like them.
    pairs = parse_qsl(
        query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="surrogateescape"
    )
    errors: list[dict[str, str]] = []
    for name, value in pairs:
        why = text_problem(name) or text_problem(value)
        if why is not None:
            shown = name.encode("utf-8", "replace").decode().replace(_NUL, "\\0")
            errors.append({"field": shown, "message": why, "in": "query"})
    return errors


def body_errors(body: bytes) -> list[dict[str, str]]:
    if not _SUSPECT_ESCAPE.search(body):
        return []
    try:
        parsed = json.loads(body)
    except ValueError:
        return []  # not JSON: the route's own parser answers
    errors: list[dict[str, str]] = []
    _walk(parsed, [], errors)
    return errors


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class StorableTextMiddleware:
    """422 for query parameters or JSON strings holding NUL or unpaired surrogates.

    Sits inside the body size limit, so the body it buffers to check is bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, errors: list[dict[str, str]]) -> None:
        names = ", ".join(dict.fromkeys(e["field"] for e in errors[:5]))
        response = problem_response(
            problem_body("validation-error", "Validation failed", 422, f"invalid fields: {names}", errors=errors)
            | {"instance": scope.get("path", "")}
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = query_errors(scope.get("query_string", b""))
        if errors:
            await self._refuse(scope, receive, send, errors)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        first: list[Message] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    first.append(message)  # a disconnect: replayed as is
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except StarletteHTTPException as exc:  # the body size limit, raised while reading
            detail = exc.detail if isinstance(exc.detail, str) else "Payload too large"
            response = problem_response(
                problem_body("payload-too-large", "Payload too large", exc.status_code, detail)
                | {"instance": scope.get("path", "")}
            )
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        errors = body_errors(body)
        if errors:
            await self._refuse(scope, receive, send, errors)
            return
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *first]

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replayed, send)
