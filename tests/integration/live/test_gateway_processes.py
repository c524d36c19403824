"""The local gateway over two processes: real sockets, the real WebSocket routes, real PostgreSQL.

Each process holds the sockets it accepted on the shared port and answers their management API
on a port of its own; $connect records that endpoint with the connection, so a broadcast's
per-endpoint batches go straight to the right process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.ports import free_port
from tidewatch.db import Database
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.fanout import PushChunk, ThreadChunkFanOut
from tidewatch.live.http_push import HttpConnectionPoster
from tidewatch.live.repository import ConnectionStore
from tidewatch_local.gateway import LocalGateway
from tidewatch_local.gateway_processes import GatewayProcesses
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.stack import LOCAL_ENVIRONMENT
from tidewatch_local.template import read_template

pytestmark = pytest.mark.integration

JWT_KEYS = {"k1": "gateway-processes-test-secret-0123456789abcdef"}
SOCKETS = 24


def websocket_gateway(management_host: str) -> LocalGateway:
    """One process of the gateway with the template's routes and functions, as `tidewatch dev` has it."""
    template = read_template()
    return LocalGateway(template, LocalInvoker(template), management_host=management_host)


@dataclasses.dataclass
class TwoProcesses:
    port: int
    processes: GatewayProcesses
    hosts: dict[int, str]  # pid → management host

    def endpoint(self, pid: int) -> str:
        return f"http://{self.hosts[pid]}/local"


@pytest.fixture
def gateway(database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoProcesses]:
    # The children inherit this environment: the functions' settings, as `tidewatch dev` exports them.
    for key, value in LOCAL_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_DATABASE_POOL_SIZE", "2")
    monkeypatch.setenv("TIDEWATCH_JWT_KEYS", json.dumps(JWT_KEYS))
    monkeypatch.setenv("TIDEWATCH_JWT_ACTIVE_KID", "k1")
    monkeypatch.setenv("TIDEWATCH_WEBSOCKET_MANAGEMENT_SCHEME", "http")
    monkeypatch.delenv("TIDEWATCH_WEBSOCKET_MANAGEMENT_ENDPOINT", raising=False)
    port = free_port()
    processes = GatewayProcesses(websocket_gateway, "127.0.0.1", port, 2, serve_first_here=False)
    try:
        started = processes.start(timeout=180)
        yield TwoProcesses(port, processes, dict(started))
    finally:
        processes.stop()


def access_token(user_id: int) -> str:
    from tidewatch.identity.keys import token_service
    from tidewatch.identity.settings import AuthSettings

    service = token_service(AuthSettings(), time.time)
    assert service is not None
    return service.issue(user_id=user_id, address="0x" + "aa" * 20, plan="free")


def open_subscribed(stack: ExitStack, port: int, token: str, n: int) -> list[ClientConnection]:
    """`n` WebSocket connections through $connect, each subscribed to markets through $default
    (closed when `stack` closes)."""
    sockets: list[ClientConnection] = []
    for _ in range(n):
        socket = stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws?token={token}", open_timeout=30))
        socket.send(json.dumps({"action": "subscribe", "topic": "markets"}))
        json.loads(socket.recv(timeout=30))  # the route's answer: subscribed
        sockets.append(socket)
    return sockets


def rows(db: Database) -> dict[str, str]:
    with db.connection() as conn:
        found = conn.execute("SELECT connection_id, endpoint FROM websocket_connections").fetchall()
    return {r["connection_id"]: r["endpoint"] for r in found}


def received(socket: ClientConnection) -> list[Any]:
    """Every message that arrives within half a second after the first (at most 10 s for the first)."""
    messages: list[Any] = []
    timeout = 10.0
    while True:
        try:
            messages.append(json.loads(socket.recv(timeout=timeout)))
        except (TimeoutError, ConnectionClosed):
            return messages
        timeout = 0.5


def chunked_broadcaster(db: Database) -> Broadcaster:
    """Chunks of 5 handed to threads, each pushed by a broadcaster of its own (as chunk invocations)."""
    store = ConnectionStore(db)
    pusher = Broadcaster(store, HttpConnectionPoster(), max_workers=4)
    fan_out = ThreadChunkFanOut(lambda payload: pusher.deliver_chunk(PushChunk.model_validate(payload)))
    return Broadcaster(store, HttpConnectionPoster(), max_workers=4, fan_out=fan_out, chunk_size=5)


def add_gone(db: Database, endpoint: str, connection_id: str, user_id: int) -> None:
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO websocket_connections (connection_id, user_id, endpoint, topics) "
            "VALUES (%s, %s, %s, ARRAY['markets'])",
            (connection_id, user_id, endpoint),
        )


def seed_user(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "aa" * 20,)).fetchone()
    assert row is not None
    return int(row["id"])


def test_connections_record_the_process_that_holds_them_and_a_broadcast_reaches_each_once(
    gateway: TwoProcesses, db: Database
) -> None:
    # Given 24 sockets opened on the shared port through the $connect and $default routes
    user = seed_user(db)
    with ExitStack() as stack:
        sockets = open_subscribed(stack, gateway.port, access_token(user), SOCKETS)
        # Then each connection row names the management endpoint of one of the two processes, both in use
        recorded = rows(db)
        assert len(recorded) == SOCKETS
        assert set(recorded.values()) == {gateway.endpoint(pid) for pid in gateway.hosts}
        # And a gone connection on either process is in the table too
        for pid in gateway.hosts:
            add_gone(db, gateway.endpoint(pid), f"gone-{pid}", user)
        # When a market update is broadcast in chunks of 5
        report = chunked_broadcaster(db).publish_market(1, {"supply_apy": 0.04})
        # Then every socket receives it exactly once, whichever process holds it
        assert [len(received(s)) for s in sockets] == [1] * SOCKETS
        assert report.delivered + report.gone <= 5  # the first chunk, pushed here; the rest handed off
        # And both gone connections are deleted, the open ones kept
        assert set(rows(db)) == set(recorded)
    # And closing the sockets runs $disconnect in the process that held each: no rows left
    deadline = time.monotonic() + 20
    while rows(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rows(db) == {}


def test_a_dead_process_does_not_stop_pushes_to_the_other_and_its_rows_are_deleted(
    gateway: TwoProcesses, db: Database
) -> None:
    # Given sockets held by both processes
    user = seed_user(db)
    dead, alive = list(gateway.hosts)
    with ExitStack() as stack:
        sockets = open_subscribed(stack, gateway.port, access_token(user), SOCKETS)
        recorded = rows(db)
        held = {p: {c for c, endpoint in recorded.items() if endpoint == gateway.endpoint(p)} for p in (dead, alive)}
        # When one process is killed (no $disconnect runs for its sockets)
        os.kill(dead, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while dead in gateway.processes.alive_pids and time.monotonic() < deadline:
            time.sleep(0.1)
        report = chunked_broadcaster(db).publish_market(1, {"supply_apy": 0.05})
        # Then every socket of the other process receives the update once, the dead one's are closed
        counts = sorted(len(received(s)) for s in sockets)
        assert counts == [0] * len(held[dead]) + [1] * len(held[alive])
        # And the dead process's connections are deleted as Gone, the others kept
        assert set(rows(db)) == held[alive]
        assert report.failed == 0
