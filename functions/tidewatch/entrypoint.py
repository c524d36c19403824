"""Typed Lambda entry glue for the non-HTTP functions.

`run_typed` parses the raw event into a pydantic model and calls the logic. Bad input becomes a
typed error envelope (never a traceback) and is not retried; transient failures (5xx domain
errors, connection errors) propagate so that Lambda's retry policy and DLQ apply.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from tidewatch.errors import DomainError, InvalidInput
from tidewatch.observability import logger

M = TypeVar("M")


def validation_problem(exc: ValidationError) -> InvalidInput:
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(event)", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
    names = ", ".join(e["field"] for e in errors[:5])
    return InvalidInput(f"invalid event: {names}", errors=errors)


def error_envelope(error: DomainError) -> dict[str, Any]:
    return {"ok": False, "error": error.to_problem()}


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


@lru_cache(maxsize=64)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def run_typed(event: Any, model: Any, logic: Callable[[M], Any]) -> dict[str, Any]:
    """Parse `event` as `model` (a pydantic model or an annotated union) and run `logic` on it."""
    try:
        parsed: M = _adapter(model).validate_python(event)
    except ValidationError as exc:
        problem = validation_problem(exc)
        logger.warning("rejected invalid event", extra={"problem": problem.to_problem()})
        return error_envelope(problem)
    try:
        result = logic(parsed)
    except DomainError as exc:
        if exc.status >= 500:
            raise
        logger.info("request refused", extra={"problem": exc.to_problem()})
        return error_envelope(exc)
    return {"ok": True, "result": _jsonable(result)}
