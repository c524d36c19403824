"""The OpenAPI document is the contract: schemathesis drives a real `tidewatch dev` from it.

Every check runs (except the one API Gateway answers itself, see schemathesis.toml), with a fixed
seed and a bounded number of examples per operation so the run fits in CI's budget, and it must
find zero failures. Its summary (operations, cases, failures) is printed into the test log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_database, new_database, new_redis_url
from tests.ports import free_port

from .devserver import running_dev_server, sign_in, source_path

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261201
EXAMPLES_PER_OPERATION = 30
# The contract run sends thousands of requests from one address: rate limits would answer most of
# them 429 and hide the behaviour under test (the limits have their own tests).
UNLIMITED = json.dumps({"burst": 1_000_000, "per_second": 100_000})


@pytest.fixture(scope="module")
def contract_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    database_url, redis_url = new_database(migrate=False), new_redis_url()
    port = free_port()
    log = tmp_path_factory.mktemp("contract-dev") / "dev.log"
    env = {
        **os.environ,
        "TIDEWATCH_DATABASE_URL": database_url,
        "TIDEWATCH_REDIS_URL": redis_url,
        "TIDEWATCH_HOME": str(tmp_path_factory.mktemp("contract-home")),
        "TIDEWATCH_RATE_LIMIT_IP": UNLIMITED,
        "TIDEWATCH_RATE_LIMIT_NONCE": UNLIMITED,
        "TIDEWATCH_RATE_LIMIT_PLANS": json.dumps({"free": json.loads(UNLIMITED), "pro": json.loads(UNLIMITED)}),
        # Two simulated days give every history, chart and forecast route stored rows to serve
        # (the month a newcomer's run lives has its own test, test_month_of_life.py).
        "TIDEWATCH_DEVNET_HISTORY_DAYS": "2",
        "PYTHONPATH": source_path(),
    }
    try:
        with running_dev_server(env, port, tick_s=60, log=log) as base:
            yield base, port
    finally:
        drop_database(database_url)


def _access_token(base: str, port: int) -> str:
    return str(sign_in(base, port, seed=0xC0FFEE)["access_token"])


def test_schemathesis_finds_no_failure_against_the_local_run(
    contract_dev: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a signed-in user on `tidewatch dev`
    base, port = contract_dev
    token = _access_token(base, port)
    # When schemathesis runs every check over every operation of the served document
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{base}/api/openapi.json",
        "--url",
        f"{base}/api",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "unsupported_method",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--workers",
        "1",  # CPython 3.11's ast.parse is not thread-safe under hypothesis' lambda descriptions
        "--generation-database",
        "none",
        "--request-timeout",
        "15",
        "--output-truncate",
        "true",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    start = output.find("SUMMARY")
    summary = output[output.rfind("\n", 0, start) + 1 :] if start >= 0 else output[-4000:]
    with capsys.disabled():
        print(f"\n== schemathesis (seed {SEED}, {EXAMPLES_PER_OPERATION} examples per operation)\n{summary}")
    # Then it tested every operation and found no failure
    assert result.returncode == 0, output[-20000:]
    assert re.search(r"Tested: (\d+)", summary), summary
    assert "failure" not in summary.split("Test cases:")[-1].replace("0 failures", "")
