"""`tidewatch invoke` runs handlers on the sample events exactly as Lambda would.

The CLI runs in its own process (as each Lambda function has its own), on the test stores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tidewatch_local.template import REPO_ROOT

pytestmark = pytest.mark.integration

EVENTS = sorted((REPO_ROOT / "events").rglob("*.json"))
# Sample events that show a refusal on purpose carry "rejected" in their name.
EXPECTED_REFUSALS = {p for p in EVENTS if "rejected" in p.stem}


def _succeeded(result: object) -> bool:
    if isinstance(result, dict) and "statusCode" in result:
        return 200 <= int(result["statusCode"]) < 400
    if isinstance(result, dict) and "batchItemFailures" in result:  # an SQS batch: nothing to redeliver
        return result["batchItemFailures"] == []
    return isinstance(result, dict) and result.get("ok") is True


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidewatch_local.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **env, "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT / 'local'}"},
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def every_sample_result(local_env: dict[str, str]) -> dict[str, Any]:
    done = _cli("invoke", "--all", "events", env=local_env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {str(Path(k).resolve()): v for k, v in json.loads(done.stdout).items()}


@pytest.mark.parametrize("event_path", EVENTS, ids=lambda p: str(p.relative_to(REPO_ROOT / "events")))
def test_every_sample_event_runs_through_tidewatch_invoke(
    every_sample_result: dict[str, Any], event_path: Path
) -> None:
    # Given every sample event, filed under its function's folder, run by `tidewatch invoke --all`
    # (in a signed-in local session where the event asks for one)
    result = every_sample_result[str(event_path.resolve())]
    # Then each succeeded (or, for a sample of a refusal, refused cleanly)
    assert _succeeded(result) is (event_path not in EXPECTED_REFUSALS), result


def test_cli_invoke_runs_the_api_health_route_through_the_lambda_entry_point(local_env: dict[str, str]) -> None:
    # Given the api function and its sample health event
    # When it is invoked from the command line
    done = _cli("invoke", "api", "events/api/health.json", env=local_env)
    # Then the Lambda response is printed, with both stores reachable
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert {c["name"] for c in body["checks"]} == {"database", "cache"}


def test_a_bad_event_gets_a_clear_error_not_a_traceback(local_env: dict[str, str], tmp_path: Path) -> None:
    # Given an event that is not a scheduled event
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"detail-type": "Something Else", "time": "yesterday"}))
    # When the ingest function is invoked with it
    done = _cli("invoke", "ingest", str(bad), env=local_env)
    # Then it answers with a typed validation error naming the fields, and no traceback
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["ok"] is False
    assert result["error"]["type"].endswith("/validation-error")
    assert any(e["field"] for e in result["error"]["errors"])
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("invoke", "nope", "events/ingest/scheduled.json"), "no function 'nope'"),
        (("invoke", "ingest", "events/missing.json"), "event file not found"),
        (("invoke", "ingest"), "usage"),
    ],
)
def test_cli_mistakes_get_one_line_messages(local_env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    # When the CLI is called with a mistake / Then it says what is wrong in one line, exit status 2
    done = _cli(*args, env=local_env)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
