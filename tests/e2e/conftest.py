"""A real `tidewatch dev` process on the test stores, for end-to-end tests over HTTP/WebSocket."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.conftest import drop_database, new_database, new_redis_url
from tests.ports import free_port
from tidewatch_local.alert_providers import ProviderStub

from .devserver import DevServer, running_dev_server, source_path

__all__ = ["DevServer"]

# The dev server's alert bot talks to a Telegram-shaped stub; Discord-shaped and push receivers
# are on the same stub (its host is accepted as a Discord/Slack webhook host).
TELEGRAM_TOKEN = "123456:e2e-telegram-token"
TELEGRAM_WEBHOOK_SECRET = "e2e-telegram-webhook-secret-0123456789"


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
        "PYTHONPATH": source_path(),
    }
    try:
        with running_dev_server(env, port, tick_s=2, log=log) as base:
            yield DevServer(base, home, port, providers, redis_url)
    finally:
        providers.close()


@pytest.fixture(scope="session")
def dev_server(dev: DevServer) -> str:
    return dev.url
