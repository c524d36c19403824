"""`GET /health`: reachability of the database and the cache (no auth, no rate limit)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import ApiSettingsDep, DatabaseDep, RedisDep
from tidewatch.health import check_health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Database and cache reachability",
    responses={503: {"description": "A dependency is unreachable (same body, status degraded)."}},
)
def health(database: DatabaseDep, redis: RedisDep, settings: ApiSettingsDep, response: Response) -> dict[str, Any]:
    report = check_health(database, redis, timeout=settings.health_timeout_seconds)
    if report["status"] != "ok":
        response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return report
