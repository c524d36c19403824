"""Broadcasts past one chunk fan out: every connection gets the message once, Gone ones are deleted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tidewatch import runtime
from tidewatch.db import Database
from tidewatch.invoke import InProcessInvoker
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.fanout import PushChunk, ThreadChunkFanOut
from tidewatch.live.http_push import HttpConnectionPoster
from tidewatch.live.repository import ConnectionStore

pytestmark = pytest.mark.integration


class ManagementApi(BaseHTTPRequestHandler):
    """POST /@connections/{id} like the API Gateway management API; ids ending in '-gone' answer 410."""

    protocol_version = "HTTP/1.1"
    received: list[str] = []  # noqa: RUF012
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        connection_id = self.path.rsplit("/", 1)[-1]
        gone = connection_id.endswith("-gone")
        if not gone:
            with ManagementApi.lock:
                ManagementApi.received.append(connection_id)
        self.send_response(410 if gone else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def management_api() -> Iterator[str]:
    ManagementApi.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ManagementApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def subscribe(db: Database, endpoint: str, n: int, *, gone_every: int = 0) -> None:
    with db.connection() as conn:
        conn.execute("INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa')")
        conn.execute(
            "INSERT INTO websocket_connections (connection_id, user_id, endpoint, topics) "
            "SELECT 'c-' || g || CASE WHEN %s > 0 AND g %% %s = 0 THEN '-gone' ELSE '' END, 1, %s, ARRAY['markets'] "
            "FROM generate_series(1, %s) g",
            (gone_every, max(gone_every, 1), endpoint, n),
        )


def count_connections(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM websocket_connections").fetchone()
    return int(row["n"]) if row else 0


def test_a_broadcast_past_one_chunk_reaches_every_connection_once(db: Database, management_api: str) -> None:
    # Given 2,500 subscribed connections, every 100th of them gone, and chunks of 1,000
    subscribe(db, management_api, 2_500, gone_every=100)
    poster = HttpConnectionPoster()
    pusher = Broadcaster(ConnectionStore(db), poster, max_workers=16)  # what the chunk's invocation runs
    chunks: list[PushChunk] = []

    def push(payload: dict[str, Any]) -> Any:
        chunk = PushChunk.model_validate(payload)
        chunks.append(chunk)
        return pusher.deliver_chunk(chunk)

    broadcaster = Broadcaster(
        ConnectionStore(db), poster, max_workers=16, fan_out=ThreadChunkFanOut(push), chunk_size=1_000
    )
    # When one market update is published
    report = broadcaster.publish_market(1, {"supply_apy": 0.05})
    # Then this invocation pushed one chunk, two chunks went elsewhere, and every live connection got it once
    assert (report.delivered, report.handed_off) == (990, 1_500)
    assert [len(c.recipients()) for c in chunks] == [1_000, 500]
    assert len(ManagementApi.received) == len(set(ManagementApi.received)) == 2_475
    # And the 25 gone connections were deleted, whichever chunk met them
    assert count_connections(db) == 2_475


def test_a_private_chunk_never_reaches_another_users_connection(db: Database, management_api: str) -> None:
    subscribe(db, management_api, 3)
    pusher = Broadcaster(ConnectionStore(db), HttpConnectionPoster(), max_workers=2)
    # Given a chunk for user 1 that lists a connection of user 2
    chunk = PushChunk(
        data='{"type":"notification"}', connections={management_api: [("c-1", 1), ("c-2", 2)]}, only_user=1
    )
    # When it is pushed
    report = pusher.deliver_chunk(chunk)
    # Then only user 1's connection got it
    assert report.delivered == 1
    assert ManagementApi.received == ["c-1"]


def test_chunks_go_through_the_websocket_functions_handler(
    db: Database, database_url: str, management_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the WebSocket function configured against the test database, pushing over HTTP
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_WEBSOCKET_PUSH_MODE", "http")
    runtime.reset()
    from api import websocket

    websocket._chunk_broadcaster.cache_clear()
    subscribe(db, management_api, 5, gone_every=5)
    chunk = PushChunk(
        data='{"type":"market"}', connections={management_api: [(f"c-{i}", 1) for i in range(1, 5)] + [("c-5-gone", 1)]}
    )
    # When a live.push event reaches the function through the in-process invoker (JSON round trip)
    answer = InProcessInvoker().invoke("websocket", chunk.model_dump(mode="json"))
    # Then it posted to the four live connections and deleted the gone one
    assert answer == {"delivered": 4, "gone": 1, "failed": 0}
    assert count_connections(db) == 4
    websocket._chunk_broadcaster.cache_clear()
    runtime.reset()
