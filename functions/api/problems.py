"""The one place where failures become RFC 9457 `application/problem+json` responses.

Domain errors carry their own stable `type`; framework errors (validation, unknown route, wrong
method, malformed JSON) are given stable types here; anything unexpected becomes a bare 500
problem with no internals (the traceback goes to the log, keyed by the request id).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidewatch.errors import PROBLEM_BASE, DomainError
from tidewatch.identity.errors import InvalidToken
from tidewatch.observability import logger

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
}


def problem_body(slug: str, title: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return body


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(problem, separators=(",", ":"), default=str),
        status_code=int(problem["status"]),
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "wallets", 0, "address") -> "wallets.0.address"; the location kind goes in `in`.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    # Errors that need response headers (Retry-After, WWW-Authenticate) carry them as `headers`.
    headers = getattr(exc, "headers", None)
    if exc.status >= 500:
        logger.error("request failed", extra={"problem": exc.to_problem()})
    return problem_response(exc.to_problem() | {"instance": request.url.path}, headers=headers)


def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            problem_body("malformed-json", "Malformed JSON", 400, "The request body is not valid JSON.")
            | {"instance": request.url.path}
        )
    fields = [
        {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "")), "in": str(e.get("loc", ["?"])[0])}
        for e in errors
    ]
    names = ", ".join(dict.fromkeys(f["field"] for f in fields[:5]))
    return problem_response(
        problem_body("validation-error", "Validation failed", 422, f"invalid fields: {names}", errors=fields)
        | {"instance": request.url.path}
    )


class AllowedMethods:
    """The documented methods of a path (Starlette's 405 names only the first route's).

    As in API Gateway, the most specific template wins: `/rules/schema` is not `/rules/{rule_id}`.
    The table is read from the app's OpenAPI document on the first 405.
    """

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._table: list[tuple[int, re.Pattern[str], dict[str, Any]]] | None = None

    def of(self, request_path: str) -> str:
        if self._table is None:
            self._table = sorted(
                (
                    (path.count("{"), re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"), item)
                    for path, item in self._app.openapi().get("paths", {}).items()
                ),
                key=lambda entry: entry[0],
            )
        for _params, pattern, item in self._table:
            if pattern.match(request_path):
                return ", ".join(sorted(m.upper() for m in item))
        return ""


def _http_error_handler(allowed: AllowedMethods) -> Callable[[Request, Exception], Response]:
    def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = allowed.of(request.scope.get("path", "")) or headers.get("Allow", "")
        return problem_response(
            problem_body(slug, title, exc.status_code, detail) | {"instance": request.url.path},
            headers=headers or None,
        )

    return on_http_error


def _on_unstorable_value(request: Request, exc: Exception) -> Response:
    # The database refused a value (out of a column type's range, a character text cannot hold)
    # that validation let through: the input is at fault, so a 422, and the log says where.
    logger.warning("database refused a request value", extra={"error": str(exc), "path": request.url.path})
    return problem_response(
        problem_body("unstorable-value", "Value cannot be stored", 422, "A value in the request cannot be stored.")
        | {"instance": request.url.path}
    )


def _on_integrity_error(request: Request, exc: Exception) -> Response:
    # A write naming a user deleted while their access token was still cached as valid: the
    # token's account is gone, which is what a 401 says. Any other integrity error is a bug.
    import psycopg

    assert isinstance(exc, psycopg.IntegrityError)
    constraint = getattr(getattr(exc, "diag", None), "constraint_name", None) or ""
    if isinstance(exc, psycopg.errors.ForeignKeyViolation) and constraint.endswith("user_id_fkey"):
        return _on_domain_error(request, InvalidToken("the account this token was issued for no longer exists"))
    logger.exception("integrity error", extra={"path": request.url.path})
    return problem_response(
        problem_body("internal", "Internal error", 500, "An unexpected error occurred.")
        | {"instance": request.url.path}
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    # Added before every other middleware, so it is the innermost: it sees what the routes raise
    # just as an exception handler would, and the other middleware see only its response.
    app.add_middleware(DatabaseErrorMiddleware)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler(AllowedMethods(app)))


class _ErrorMiddleware:
    """An HTTP middleware that hands an exception escaping the app to `on_error`.

    `on_error` is told whether the response has started (its first message was sent), because a
    started response cannot be replaced. Other ASGI scopes (lifespan, websocket) pass through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            await self.on_error(exc, scope, receive, send, started=started)

    async def on_error(self, exc: Exception, scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
        """Answer for `exc` on `send`, or raise it on."""
        raise exc


class DatabaseErrorMiddleware(_ErrorMiddleware):
    """Maps the driver's data and integrity errors escaping a route to their problems.

    An exception handler would have to be registered with psycopg's classes, importing the driver
    at every cold start; a psycopg error can only exist once psycopg is imported, so its classes are
    looked up in `sys.modules` when an exception passes. Like Starlette's exception middleware, a
    response already started cannot be replaced: the error goes on outwards.
    """

    async def on_error(self, exc: Exception, scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
        handler = _database_error_handler(exc)
        if handler is None or started:
            raise exc
        response = handler(Request(scope, receive=receive), exc)
        await response(scope, receive, send)


def _database_error_handler(exc: Exception) -> Callable[[Request, Exception], Response] | None:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return None
    if isinstance(exc, psycopg.DataError):
        return _on_unstorable_value
    if isinstance(exc, psycopg.IntegrityError):
        return _on_integrity_error
    return None


class UnexpectedErrorMiddleware(_ErrorMiddleware):
    """Turns any exception that escaped the routes into a 500 problem, without re-raising.

    Starlette's own server-error middleware always re-raises (so Mangum would log it again and a
    test client would blow up); here the traceback is logged once and the client gets no internals.
    """

    async def on_error(self, exc: Exception, scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
        logger.exception("unhandled error", extra={"path": scope.get("path")})
        if started:
            return
        response = problem_response(
            problem_body("internal", "Internal error", 500, "An unexpected error occurred.")
            | {"instance": scope.get("path", "")}
        )
        await response(scope, receive, send)
