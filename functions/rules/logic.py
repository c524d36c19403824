"""Rule evaluation tick (the engine itself is issue #6)."""

from __future__ import annotations

from typing import Any

from tidewatch.db import Database
from tidewatch.events import ScheduledEvent


def evaluate_tick(event: ScheduledEvent, *, database: Database) -> dict[str, Any]:
    with database.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM rules WHERE enabled").fetchone()
    return {"tick": event.id, "enabled_rules": row["n"] if row else 0, "fired": 0}
