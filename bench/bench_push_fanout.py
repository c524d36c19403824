"""Pushing one market update to 10,000 WebSocket connections (prints figures; no assertions).

    python bench/bench_push_fanout.py [--connections 10000] [--chunk 1000]

The connections are rows of `websocket_connections` in a real PostgreSQL database, subscribed to
the market; post_to_connection goes over HTTP to a local server shaped like the API Gateway
management API (POST /@connections/{id}, keep-alive; several processes so that the stand-in is not
the bottleneck). Three ways, in one run:
- one invocation: every post from one process with bounded parallelism (no fan-out);
- fan-out, threads: chunks handed to threads of the same process (what the local run does);
- fan-out, processes: chunks handed to worker processes, as asynchronous invokes hand them to
  Lambda containers of their own.
Target: 10,000 connections in ≤ 1 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

import psycopg  # noqa: E402

from tidewatch.db import Database  # noqa: E402
from tidewatch.migrate import apply_migrations  # noqa: E402

ADMIN_URL = os.environ.get("TIDEWATCH_TEST_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/test")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _ReusePortServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def _serve(port: int) -> None:
    _ReusePortServer(("127.0.0.1", port), _Handler).serve_forever()


def start_management_api(processes: int) -> tuple[list[Any], str]:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    context = multiprocessing.get_context("fork")
    servers = [context.Process(target=_serve, args=(port,), daemon=True) for _ in range(processes)]
    for s in servers:
        s.start()
    time.sleep(0.5)
    return servers, f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- chunk worker (own process)
_pusher: Any = None


def _init_pusher(database_url: str) -> None:
    global _pusher
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.connections import ConnectionStore
    from tidewatch.live.http_push import HttpConnectionPoster

    _pusher = Broadcaster(ConnectionStore(Database(database_url)), HttpConnectionPoster(), max_workers=32)


def _push(payload: dict[str, Any]) -> int:
    from tidewatch.live.fanout import PushChunk

    return int(_pusher.deliver_chunk(PushChunk.model_validate(payload)).delivered)


class ProcessFanOut:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def hand_off(self, chunks: Any) -> None:
        self.delivered = sum(self._pool.map(_push, [c.model_dump(mode="json") for c in chunks], chunksize=1))


def main() -> None:
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.connections import ConnectionStore
    from tidewatch.live.fanout import PushChunk, ThreadChunkFanOut
    from tidewatch.live.http_push import HttpConnectionPoster

    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--server-processes", type=int, default=2)
    args = parser.parse_args()
    name = f"tw_bench_push_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    database = Database(url, pool_size=4)
    servers, endpoint = start_management_api(args.server_processes)
    try:
        apply_migrations(database)
        with database.connection() as conn:
            conn.execute("INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa')")
            conn.execute(
                "INSERT INTO websocket_connections (connection_id, user_id, endpoint, topics) "
                "SELECT 'conn-' || g, 1, %s, ARRAY['markets'] FROM generate_series(1, %s) g",
                (endpoint, args.connections),
            )
        poster = HttpConnectionPoster()
        store = ConnectionStore(database)
        message = {"supply_apy": 0.0412, "borrow_apy": 0.0533}

        def timed(label: str, broadcaster: Broadcaster) -> None:
            broadcaster.publish_market(1, message)  # warm: pools, keep-alive connections, the query plan
            started = time.perf_counter()
            report = broadcaster.publish_market(1, message)
            elapsed = time.perf_counter() - started
            # Chunks handed to threads report through the shared counters below; processes count their own.
            handed = (
                broadcaster._fan_out.delivered if isinstance(broadcaster._fan_out, ProcessFanOut) else report.handed_off
            )
            delivered = report.delivered + handed
            print(
                f"{label:<26} {args.connections:,} connections in {elapsed:.3f} s "
                f"({args.connections / elapsed:,.0f} posts/s), delivered {delivered:,}"
            )

        timed("one invocation (64 wide)", Broadcaster(store, poster, max_workers=64))
        pusher = Broadcaster(store, poster, max_workers=32)
        threads = ThreadChunkFanOut(lambda payload: pusher.deliver_chunk(PushChunk.model_validate(payload)))
        timed("fan-out, threads", Broadcaster(store, poster, max_workers=32, fan_out=threads, chunk_size=args.chunk))
        context = multiprocessing.get_context("spawn")
        workers = max(1, args.connections // args.chunk - 1)
        with context.Pool(workers, initializer=_init_pusher, initargs=(url,)) as pool:
            fan_out = ProcessFanOut(pool)
            timed(
                f"fan-out, {workers} processes",
                Broadcaster(store, poster, max_workers=32, fan_out=fan_out, chunk_size=args.chunk),
            )
    finally:
        for s in servers:
            s.terminate()
        database.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
