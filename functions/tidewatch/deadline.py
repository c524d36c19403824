"""Per-request time budgets that every I/O layer consults.

A request gets one deadline (`bounded(request=...)`), and RPC reads a tighter one inside it
(`rpc=...`): the budget is total, shared by every chain, address and retry round of the request,
never per call. Code below the handler reads the budgets through `remaining()`; outside a bounded
scope (scheduled functions, scripts) there is no deadline and each layer's own timeouts apply.

Context variables follow the request into FastAPI's worker threads (Starlette copies the context
into `run_in_threadpool`), so a deadline set by the middleware reaches sync routes and their
dependencies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from tidewatch.errors import UpstreamUnavailable

Budget = Literal["request", "rpc"]

# Absolute `time.monotonic()` instants; None means unbounded.
_DEADLINES: dict[Budget, ContextVar[float | None]] = {
    "request": ContextVar("tidewatch_request_deadline", default=None),
    "rpc": ContextVar("tidewatch_rpc_deadline", default=None),
}


class DeadlineExceeded(UpstreamUnavailable):
    """The request's time budget ran out before a dependency answered."""

    type_slug = "deadline-exceeded"
    title = "Dependency too slow"


def remaining(budget: Budget = "request") -> float | None:
    """Seconds left of `budget` (the tighter of it and the request deadline); None if unbounded."""
    now = time.monotonic()
    instants = [at for at in (_DEADLINES["request"].get(), _DEADLINES[budget].get()) if at is not None]
    return min(instants) - now if instants else None


def cap(timeout: float, budget: Budget = "request") -> float:
    """`timeout` shortened to what is left of `budget` (never below zero)."""
    left = remaining(budget)
    return timeout if left is None else max(0.0, min(timeout, left))


def expired(budget: Budget = "request") -> bool:
    left = remaining(budget)
    return left is not None and left <= 0


@contextmanager
def bounded(*, request: float | None = None, rpc: float | None = None, replace: bool = False) -> Iterator[None]:
    """Run the block under these budgets (seconds from now); an enclosing tighter one still wins,
    unless `replace` (bookkeeping that must run after a request ran out of time, briefly)."""
    now = time.monotonic()
    tokens = []
    for budget, seconds in (("request", request), ("rpc", rpc)):
        if seconds is None:
            continue
        var = _DEADLINES[budget]  # type: ignore[index]
        current = var.get()
        at = now + seconds
        tokens.append((var, var.set(at if current is None or replace else min(current, at))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
