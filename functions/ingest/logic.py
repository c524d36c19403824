"""Ingest tick: read every configured market and record it (see issue #3 for the full reader)."""

from __future__ import annotations

from typing import Any

from tidewatch.cache import RedisClient
from tidewatch.db import Database
from tidewatch.events import ScheduledEvent
from tidewatch.observability import MetricUnit, metrics


def run_tick(event: ScheduledEvent, *, database: Database, redis: RedisClient) -> dict[str, Any]:
    with database.connection() as conn:
        markets = conn.execute("SELECT count(*) AS n FROM markets").fetchone()
    metrics.add_metric(name="IngestTick", unit=MetricUnit.Count, value=1)
    return {
        "tick": event.id,
        "scheduled_at": event.time.isoformat(),
        "markets": markets["n"] if markets else 0,
    }
