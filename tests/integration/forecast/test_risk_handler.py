"""The deployed entry point end to end: Lambda handler → registry → models → response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from risk import deps
from risk.handler import lambda_handler
from tidewatch import runtime
from tidewatch.db import Database
from tidewatch.observability import metrics

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events" / "risk"


@dataclass
class FakeContext:
    function_name: str = "tidewatch-risk"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:tidewatch-risk"
    aws_request_id: str = "req-1"


@pytest.fixture
def container(db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh container pointed at the test database."""
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    # tests/conftest.py sets POWERTOOLS_METRICS_NAMESPACE after tidewatch.observability was
    # imported (via tidewatch.cache), so the shared Metrics has no namespace: give it one here.
    monkeypatch.setattr(metrics.provider, "namespace", "TidewatchTest")
    runtime.reset()
    deps.production_deps.cache_clear()
    yield
    deps.production_deps.cache_clear()
    runtime.reset()


def test_health_reports_the_database_and_the_loaded_models(container: None) -> None:
    response = lambda_handler(json.loads((EVENTS / "health.json").read_text()), FakeContext())
    assert response["ok"] is True
    assert response["result"]["status"] == "ok"
    assert response["result"]["models"]["risk"] == deps.production_deps().models.risk.version


def test_scoring_through_the_handler_uses_the_shipped_model_without_a_registry_entry(container: None) -> None:
    response = lambda_handler(json.loads((EVENTS / "score_risk_batch.json").read_text()), FakeContext())
    forecasts = response["result"]["forecasts"]
    assert [f["position_id"] for f in forecasts] == ["hf-1.05", "hf-1.2", "hf-1.6"]
    probabilities = [f["probability"] for f in forecasts]
    assert probabilities == sorted(probabilities, reverse=True)
