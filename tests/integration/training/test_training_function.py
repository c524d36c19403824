"""The training function's logic: history → trained artifacts in the store → rows in model_artifacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tidewatch.db import Database
from tidewatch.events import ScheduledEvent
from tidewatch.forecast.history import HourlyHistory
from training import handler, logic
from training.scenarios import generated_history
from training.store import LocalArtifactStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class _Context:
    function_name = "tidewatch-dev-training"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tidewatch-dev-training"
    aws_request_id = "req-1"


def test_a_scheduled_run_publishes_both_models_and_records_them(db: Database, tmp_path: Path) -> None:
    # Given the weekly schedule's event and a history source
    asked: list[datetime] = []

    def load_history(database: Database, since: datetime) -> HourlyHistory:
        asked.append(since)
        return generated_history()

    event = ScheduledEvent.model_validate(
        {"id": "e1", "detail-type": "Scheduled Event", "source": "aws.events", "time": NOW.isoformat()}
    )
    # When training runs
    result = logic.train(
        event,
        database=db,
        store=LocalArtifactStore(tmp_path),
        lookback_days=365,
        load_history=load_history,
        now=NOW,
    )
    # Then it read a year of history, and published and recorded a risk and an APY artifact
    assert asked == [NOW - timedelta(days=365)]
    assert {p["kind"] for p in result["published"]} == {"risk", "apy"}
    for published in result["published"]:
        assert Path(published["uri"].removeprefix("file://")).exists()
    with db.connection() as conn:
        kinds = {r["kind"] for r in conn.execute("SELECT kind FROM model_artifacts")}
    assert kinds == {"risk", "apy"}


def test_a_manual_run_can_override_the_lookback(db: Database, tmp_path: Path) -> None:
    asked: list[datetime] = []

    def load_history(database: Database, since: datetime) -> HourlyHistory:
        asked.append(since)
        return generated_history()

    logic.train(
        logic.TrainRequest(action="train", lookback_days=30),
        database=db,
        store=LocalArtifactStore(tmp_path),
        lookback_days=365,
        load_history=load_history,
        now=NOW,
    )
    assert asked == [NOW - timedelta(days=30)]


def test_the_handler_refuses_to_train_without_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no model bucket configured / Then a clear error envelope, not a traceback
    monkeypatch.delenv("TIDEWATCH_MODEL_BUCKET", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    result = handler.lambda_handler({"action": "train"}, _Context())
    assert result["ok"] is False
    assert "TIDEWATCH_MODEL_BUCKET" in result["error"]["detail"]
