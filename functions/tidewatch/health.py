"""Reachability of the stores a function depends on, for health checks."""

from __future__ import annotations

import time
from typing import Any

from tidewatch.cache import RedisClient
from tidewatch.db import Database


def _probe(name: str, check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure means "unreachable"; the reason is reported
        return {"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"name": name, "ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_health(database: Database | None, redis: RedisClient | None, *, timeout: float = 1.5) -> dict[str, Any]:
    """Probe each store, each bounded by `timeout` (Redis by its own socket timeout)."""
    checks = []
    if database is not None:
        checks.append(_probe("database", lambda: database.ping(timeout=timeout)))
    if redis is not None:
        checks.append(_probe("cache", redis.ping))
    failing = [c["name"] for c in checks if not c["ok"]]
    return {"status": "degraded" if failing else "ok", "failing": failing, "checks": checks}
