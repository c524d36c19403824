"""Weekly training entry point (EventBridge schedule → container-image function with sklearn).

Reads the ingest history from Postgres, trains and evaluates both models, publishes artifacts
and model cards to the model bucket and records them in `model_artifacts`. Too little history is
a typed error envelope (not retried); store or database faults raise so Lambda retries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from risk.settings import ForecastSettings
from risk.sources import history_from_database
from risk.store import ArtifactStore, LocalArtifactStore, S3ArtifactStore
from risk.training import run_training
from tidewatch import runtime
from tidewatch.db import Database
from tidewatch.entrypoint import run_typed
from tidewatch.events import ScheduledEvent
from tidewatch.observability import MetricUnit, logger, metrics, tracer


def train_from_database(
    event: ScheduledEvent, *, database: Database, store: ArtifactStore, settings: ForecastSettings
) -> dict[str, Any]:
    since = event.time.astimezone(UTC) - timedelta(days=settings.training_lookback_days)
    history = history_from_database(database, since=since)
    result = run_training(history, store, database, created=datetime.now(UTC))
    metrics.add_metric(name="ModelsTrained", unit=MetricUnit.Count, value=2)
    return {"published": result.report.get("published", [])}


def _store(settings: ForecastSettings) -> ArtifactStore:
    if settings.model_bucket:
        return S3ArtifactStore(settings.model_bucket, settings.model_prefix)
    return LocalArtifactStore(settings.model_dir or "/tmp/tidewatch-models")  # noqa: S108 - local run only


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ForecastSettings()

    def train(scheduled: ScheduledEvent) -> dict[str, Any]:
        return train_from_database(scheduled, database=runtime.database(), store=_store(settings), settings=settings)

    return run_typed(event, ScheduledEvent, train)
