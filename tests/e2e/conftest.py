"""A real `tidewatch dev` process on the test stores, for end-to-end tests over HTTP/WebSocket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import drop_database, new_database, new_redis_url
from tidewatch_local.alert_providers import ProviderStub
from tidewatch_local.template import REPO_ROOT

# The dev server's alert bot talks to a Telegram-shaped stub; Discord-shaped and push receivers
# are on the same stub (its host is accepted as a Discord/Slack webhook host).
TELEGRAM_TOKEN = "123456:e2e-telegram-token"
TELEGRAM_WEBHOOK_SECRET = "e2e-telegram-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevServer:
    url: str
    home: Path
    port: int
    providers: ProviderStub | None = None
    redis_url: str = ""

    @property
    def registry(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "devnet" / "registry.json").read_text()))


@pytest.fixture(scope="session")
def dev_database_url() -> Iterator[str]:
    """The dev server's own database: its ticks keep writing while other tests truncate theirs."""
    url = new_database(migrate=False)  # `tidewatch dev` applies the migrations itself
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def dev(dev_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """`tidewatch dev` with its devnet, the schedules firing every 2 s and the simulator every 3 s."""
    database_url, redis_url = dev_database_url, new_redis_url()
    port = free_port()
    log = tmp_path_factory.mktemp("dev-server") / "dev.log"
    home = tmp_path_factory.mktemp("tidewatch-home")
    providers = ProviderStub()
    env = {
        **os.environ,
        "TIDEWATCH_DATABASE_URL": database_url,
        "TIDEWATCH_REDIS_URL": redis_url,
        "TIDEWATCH_HOME": str(home),
        "TIDEWATCH_DEVNET_SIMULATE_SECONDS": "3",
        "TIDEWATCH_ALERTS_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TIDEWATCH_ALERTS_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
        "TIDEWATCH_ALERTS_TELEGRAM_API_BASE": providers.url,
        "TIDEWATCH_ALERTS_CHAT_WEBHOOK_HOSTS": json.dumps([providers.host]),
        # The e2e checks assert the seeded positions as deployed (no month of history, no liquidation).
        "TIDEWATCH_DEVNET_HISTORY_DAYS": "0",
        "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT / 'local'}",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidewatch_local.cli", "dev", "--port", str(port), "--tick", "2"],
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
        yield DevServer(base, home, port, providers, redis_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        providers.close()


@pytest.fixture(scope="session")
def dev_server(dev: DevServer) -> str:
    return dev.url
