"""A real `tidewatch dev` process on the test stores, for end-to-end tests over HTTP/WebSocket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tidewatch_local.template import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def dev_server(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("dev-server") / "dev.log"
    env = {
        **os.environ,
        "TIDEWATCH_DATABASE_URL": database_url,
        "TIDEWATCH_REDIS_URL": redis_url,
        "TIDEWATCH_HOME": str(tmp_path_factory.mktemp("tidewatch-home")),
        "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT / 'local'}",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidewatch_local.cli", "dev", "--port", str(port), "--no-schedules"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"tidewatch dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tidewatch dev did not become healthy:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
