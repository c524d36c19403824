"""The OpenAPI document, made accurate about errors.

FastAPI documents 422 as its own `HTTPValidationError` shape; this API answers every error as an
RFC 9457 problem, so each 4xx/5xx response is rewritten to `application/problem+json` with one
`Problem` schema. The committed copy `docs/openapi.json` is written by `tidewatch_local.openapi_doc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. `type` is stable; extra members depend on the type.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "examples": ["https://tidewatch.dev/problems/siwe-expired"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For validation-error: the offending fields.",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "in": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_NOT_RATE_LIMITED = {"/health"}
_COMMON_ERRORS = {
    "400": "Malformed JSON or request",
    "413": "Body too large",
    "422": "Validation failed (fields named in `errors`)",
    "500": "Unexpected error (no internals)",
}


_UNAVAILABLE = (
    "A dependency (database, chain RPC, wallet function) is down or too slow: nothing stale could be "
    "served (see Retry-After)"
)


IDEMPOTENT_PATHS = ("/portfolios", "/rules", "/transactions/prepare")
_IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": "idempotency-key",
    "in": "header",
    "required": False,
    "description": "Retry-safe create: the same key and body replay the first response (no second row, "
    "header `Idempotency-Replayed: true`); the same key with another body is a 422 problem "
    "`idempotency-key-reused`. Per user, kept 24 hours.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
}


def _document_idempotency(operation: dict[str, Any]) -> None:
    parameters = [p for p in operation.setdefault("parameters", []) if p.get("name", "").lower() != "idempotency-key"]
    operation["parameters"] = [*parameters, _IDEMPOTENCY_HEADER]
    responses = operation.setdefault("responses", {})
    responses.setdefault("409", {"description": "A request with this Idempotency-Key is still running (Retry-After)"})
    responses.setdefault("422", {"description": _COMMON_ERRORS["422"]})


def build_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, path_item in spec.get("paths", {}).items():
        if path in IDEMPOTENT_PATHS and "post" in path_item:
            _document_idempotency(path_item["post"])
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", {"description": "Missing, invalid or expired access token"})
            if path not in _NOT_RATE_LIMITED:
                responses.setdefault("429", {"description": "Rate limited (see Retry-After, RateLimit-*)"})
            if operation.get("requestBody"):
                for status, description in _COMMON_ERRORS.items():
                    responses.setdefault(status, {"description": description})
            else:
                responses.setdefault("500", {"description": _COMMON_ERRORS["500"]})
            # Every route reads PostgreSQL or Redis: past the request deadline it answers 503.
            responses.setdefault("503", {"description": _UNAVAILABLE})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    if status == "422":
                        response["description"] = _COMMON_ERRORS["422"]
                    # Pages opened from a link (alert mails) also answer their refusals as HTML.
                    html = (response.get("content") or {}).get("text/html")
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}}
                    if html is not None:
                        response["content"]["text/html"] = html
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return spec


def install_openapi(app: FastAPI, *, before: Callable[[], object] | None = None) -> None:
    """`app.openapi()` builds the document once; `before` runs first (including every router)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            if before is not None:
                before()
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
