"""Weekly model training in AWS: history from Postgres, artifacts to S3, records in `model_artifacts`.

The same steps as `tidewatch train --database-url ... --bucket ...`; scikit-learn is imported only
inside `training.pipeline`, which only the training container image ships.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tidewatch.db import Database
from tidewatch.events import ScheduledEvent
from tidewatch.forecast.history import HourlyHistory
from training.store import ArtifactStore

HistoryLoader = Callable[[Database, datetime], HourlyHistory]


class TrainRequest(BaseModel):
    """A manual run (`aws lambda invoke --payload '{"action": "train"}'`)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["train"]
    lookback_days: int | None = None


def _history_from_database(database: Database, since: datetime) -> HourlyHistory:
    from tidewatch.forecast.repository import history_from_database

    return history_from_database(database, since=since)


def train(
    event: ScheduledEvent | TrainRequest,
    *,
    database: Database,
    store: ArtifactStore,
    lookback_days: int,
    load_history: HistoryLoader = _history_from_database,
    now: datetime | None = None,
) -> dict[str, Any]:
    from training.pipeline import run_training

    if isinstance(event, TrainRequest) and event.lookback_days:
        lookback_days = event.lookback_days
    started = now or datetime.now(UTC)
    history = load_history(database, started - timedelta(days=lookback_days))
    result = run_training(history, store, database, created=started)
    return {"ok": True, "published": result.report.get("published", [])}
