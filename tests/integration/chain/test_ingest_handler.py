"""The ingest Lambda handler on its sample events, configured by environment like in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import deps
from tidewatch import runtime
from tidewatch.observability import metrics

from .conftest import AnvilDevnet

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events" / "ingest"


class _Context:
    function_name = "tidewatch-ingest"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:tidewatch-ingest"
    aws_request_id = "test-request"


@pytest.fixture
def configured(
    anvil_devnet: AnvilDevnet, database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, db: object
) -> Iterator[None]:
    monkeypatch.setenv("TIDEWATCH_RPC_URLS", json.dumps({str(anvil_devnet.chain_id): [anvil_devnet.node.url]}))
    monkeypatch.setenv("TIDEWATCH_REGISTRY", str(anvil_devnet.registry_path))
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_REDIS_URL", redis_url)
    # tests/conftest.py imports the observability module before it sets POWERTOOLS_METRICS_NAMESPACE,
    # so the shared Metrics instance may have no namespace; the handler flushes metrics and needs one.
    if metrics.namespace is None:
        monkeypatch.setattr(metrics, "namespace", "TidewatchTest")
    runtime.reset()
    deps.reset()
    yield
    runtime.reset()
    deps.reset()


def test_scheduled_event_ingests_the_devnet(configured: None, anvil_devnet: AnvilDevnet) -> None:
    from ingest.handler import lambda_handler

    # Given the sample EventBridge event
    event = json.loads((EVENTS / "scheduled.json").read_text())
    # When the handler runs
    response = lambda_handler(event, _Context())  # type: ignore[arg-type]
    # Then every devnet market was recorded: the Aave reserves discovered from the registry's
    # root on this cold container (2 round trips), then all markets read (2 more)
    assert response["ok"] is True
    chain = response["result"]["chains"][0]
    assert chain["markets_read"] == len(anvil_devnet.registry.chains[0].markets)
    assert chain["discovered"] == ["aave-v3:core"]
    assert chain["round_trips"] == 4
    # And the next tick in the warm container reads everything in 2 round trips
    again = lambda_handler(event, _Context())["result"]["chains"][0]  # type: ignore[arg-type]
    assert again["discovered"] == []
    assert again["round_trips"] == 2
    assert again["markets_read"] == chain["markets_read"]
