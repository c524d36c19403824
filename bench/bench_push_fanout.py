"""Pushing one market update to 10,000 WebSocket connections through the local gateway (prints figures).

    python bench/bench_push_fanout.py [--connections 10000] [--chunk 1000] [--clients 2]

What runs, each part in processes of its own:
- the local gateway (`tidewatch_local.gateway.LocalGateway` under uvicorn, configured as
  `tidewatch dev` runs it) holding every server-side socket and answering the management API
  (`POST /local/@connections/{id}`);
- WebSocket clients: `--clients` processes holding the 10,000 client sockets, each counting what
  arrives on every one of its sockets; a broadcast has finished when every socket has its message;
- the broadcasters: `websocket_connections` rows in a real PostgreSQL database, subscribed to the
  market, read by `Broadcaster.publish_market`; every `post_to_connection` is one HTTP request to
  the gateway, and 1 % more rows name connections that no longer exist (410 Gone: deleted).
The $connect route is left out (the rows are written with the ids the gateway assigned), since it
is not what a broadcast runs. Two ways, in one run:
- fan-out, threads: chunks handed to threads of the same process (`ThreadChunkFanOut`);
- fan-out, processes: chunks handed to worker processes, as asynchronous invokes hand them to
  Lambda containers of their own.
Target: 10,000 connections in ≤ 1 s. The figures include the gateway's and the clients' work,
which in AWS is API Gateway's; on a shared two-core machine the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT)]

import psycopg  # noqa: E402

from tidewatch.db import Database  # noqa: E402
from tidewatch.migrate import apply_migrations  # noqa: E402

ADMIN_URL = os.environ.get("TIDEWATCH_TEST_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
STAGE = "local"


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


# ---------------------------------------------------------------- the local gateway (own process)
def _serve_gateway(port: int, ids: Any) -> None:
    import uvicorn

    from tidewatch_local.gateway import SERVER_OPTIONS, LocalGateway
    from tidewatch_local.invoker import LocalInvoker
    from tidewatch_local.template import read_template

    template = dataclasses.replace(read_template(), websocket_routes={})
    gateway = LocalGateway(template, LocalInvoker(template), stage=STAGE)

    def answer() -> None:  # the connection ids the gateway assigned, or its CPU time so far
        while True:
            question = ids.recv()
            ids.send(list(gateway.connections) if question == "ids" else time.process_time())

    threading.Thread(target=answer, daemon=True).start()
    uvicorn.Server(uvicorn.Config(gateway, host="127.0.0.1", port=port, **SERVER_OPTIONS)).run()


# ---------------------------------------------------------------- WebSocket clients (own process)
def _clients(url: str, n: int, ready: Any, done: Any, index: int) -> None:
    async def main() -> None:
        from websockets.asyncio.client import connect

        sockets: list[Any] = []
        for start in range(0, n, 200):
            batch = [
                connect(url, compression=None, max_queue=None, open_timeout=300)
                for _ in range(start, min(n, start + 200))
            ]
            sockets.extend(await asyncio.gather(*batch))
        complete: dict[int, int] = {}

        async def count(ws: Any) -> None:
            received = 0
            async for _ in ws:
                received += 1
                complete[received] = complete.get(received, 0) + 1
                if complete[received] == n:  # every socket of this process has broadcast `received`
                    done.put((index, received, time.monotonic(), time.process_time()))

        tasks = [asyncio.create_task(count(ws)) for ws in sockets]
        ready.put(n)
        await asyncio.gather(*tasks)

    asyncio.run(main())


# ---------------------------------------------------------------- chunk worker (own process)
_pusher: Any = None


def _init_pusher(database_url: str) -> None:
    global _pusher
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.http_push import HttpConnectionPoster
    from tidewatch.live.repository import ConnectionStore

    _pusher = Broadcaster(ConnectionStore(Database(database_url)), HttpConnectionPoster(), max_workers=32)


def _push(payload: dict[str, Any]) -> tuple[int, int, float]:
    from tidewatch.live.fanout import PushChunk

    cpu = time.process_time()
    report = _pusher.deliver_chunk(PushChunk.model_validate(payload))
    return int(report.delivered), int(report.gone), time.process_time() - cpu


class ProcessFanOut:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.delivered = self.gone = 0
        self.cpu = 0.0

    def hand_off(self, chunks: Any) -> None:
        outcomes = list(self._pool.map(_push, [c.model_dump(mode="json") for c in chunks], chunksize=1))
        self.delivered, self.gone = sum(o[0] for o in outcomes), sum(o[1] for o in outcomes)
        self.cpu = sum(o[2] for o in outcomes)


class CountingThreads:
    """ThreadChunkFanOut over the broadcaster a chunk's invocation runs, counting what it delivered."""

    def __init__(self, pusher: Any) -> None:
        from tidewatch.live.fanout import PushChunk, ThreadChunkFanOut

        self.delivered = self.gone = 0
        self.cpu = 0.0  # counted in this process's own CPU time
        self._lock = threading.Lock()

        def run(payload: dict[str, Any]) -> None:
            report = pusher.deliver_chunk(PushChunk.model_validate(payload))
            with self._lock:
                self.delivered += report.delivered
                self.gone += report.gone

        self._threads = ThreadChunkFanOut(run)

    def hand_off(self, chunks: Any) -> None:
        self.delivered = self.gone = 0
        self._threads.hand_off(chunks)


def main() -> None:
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.http_push import HttpConnectionPoster
    from tidewatch.live.repository import ConnectionStore

    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="timed broadcasts per way (the best is printed too)")
    args = parser.parse_args()
    n = args.connections
    name = f"tw_bench_push_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    database = Database(url, pool_size=4)
    context = multiprocessing.get_context("spawn")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}/{STAGE}"
    ids_here, ids_there = context.Pipe()
    children = [context.Process(target=_serve_gateway, args=(port, ids_there), daemon=True)]
    ready, done = context.Queue(), context.Queue()
    per_client = [n // args.clients + (1 if i < n % args.clients else 0) for i in range(args.clients)]
    try:
        children[0].start()
        apply_migrations(database)
        for _ in range(600):  # the gateway process imports the template's code first
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if not children[0].is_alive():
                    raise SystemExit("the local gateway did not start") from None
                time.sleep(0.1)
        else:
            raise SystemExit("the local gateway did not start in 60 s")
        started = time.perf_counter()
        for index, count in enumerate(per_client):
            client = context.Process(target=_clients, args=(f"ws://127.0.0.1:{port}/ws", count, ready, done, index))
            children.append(client)
            children[-1].start()
        for _ in per_client:
            ready.get(timeout=900)
        ids_here.send("ids")
        connection_ids: list[str] = ids_here.recv()
        print(
            f"{len(connection_ids):,} WebSocket connections open to the local gateway in "
            f"{time.perf_counter() - started:.1f} s ({args.clients} client processes)"
        )
        with database.connection() as conn:
            conn.execute("INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa')")
            with conn.cursor().copy(
                "COPY websocket_connections (connection_id, user_id, endpoint, topics) FROM STDIN"
            ) as copy:
                for cid in connection_ids:
                    copy.write_row((cid, 1, endpoint, ["markets"]))
        store = ConnectionStore(database)
        poster = HttpConnectionPoster()
        message = {"supply_apy": 0.0412, "borrow_apy": 0.0533}
        broadcasts = 0

        def add_gone() -> None:
            with database.connection() as conn:
                conn.execute(
                    "INSERT INTO websocket_connections (connection_id, user_id, endpoint, topics) "
                    "SELECT 'gone-' || md5(random()::text), 1, %s, ARRAY['markets'] FROM generate_series(1, %s)",
                    (endpoint, max(1, n // 100)),
                )

        client_cpu = [0.0] * len(per_client)

        def gateway_cpu() -> float:
            ids_here.send("cpu")
            return float(ids_here.recv())

        def broadcast(broadcaster: Broadcaster, fan_out: Any) -> tuple[float, float, int, int, tuple[float, ...]]:
            nonlocal broadcasts
            add_gone()
            gateway_before = gateway_cpu()
            cpu = time.process_time()
            began = time.monotonic()
            report = broadcaster.publish_market(1, message)
            returned = time.monotonic()
            cpu = time.process_time() - cpu + fan_out.cpu
            broadcasts += 1
            finished: list[float] = []
            clients = 0.0
            while len(finished) < len(per_client):
                index, number, at, used = done.get(timeout=60)
                if number == broadcasts:
                    finished.append(at)
                    clients += used - client_cpu[index]
                    client_cpu[index] = used
            delivered = report.delivered + fan_out.delivered
            gone = report.gone + fan_out.gone
            cpus = (gateway_cpu() - gateway_before, clients, cpu)
            return max(finished) - began, returned - began, delivered, gone, cpus

        def timed(label: str, broadcaster: Broadcaster, fan_out: Any) -> None:
            broadcast(broadcaster, fan_out)  # warm: pools, keep-alive connections, the query plan
            runs = [broadcast(broadcaster, fan_out) for _ in range(args.rounds)]
            walls = sorted(r[0] for r in runs)
            _, returned, delivered, gone, _ = runs[-1]
            gateway, clients, broadcasters = (min(r[4][k] for r in runs) for k in range(3))
            print(
                f"{label:<24} {n:,} sockets received in {walls[len(walls) // 2]:.3f} s median, "
                f"{walls[0]:.3f} s best of {len(runs)} ({n / walls[len(walls) // 2]:,.0f} posts/s); "
                f"publish returned after {returned:.3f} s; delivered {delivered:,}, gone {gone:,} deleted; "
                f"load average {os.getloadavg()[0]:.2f}"
            )
            print(
                f"{'':<24} CPU time (least of the runs): gateway {gateway:.3f} s, clients {clients:.3f} s, "
                f"broadcasters {broadcasters:.3f} s ({1e6 * gateway / n:.0f} + {1e6 * clients / n:.0f} + "
                f"{1e6 * broadcasters / n:.0f} µs a post)"
            )

        pusher = Broadcaster(store, poster, max_workers=32)
        threads = CountingThreads(pusher)
        timed(
            "fan-out, threads",
            Broadcaster(store, poster, max_workers=32, fan_out=threads, chunk_size=args.chunk),
            threads,
        )
        workers = max(1, -(-n // args.chunk) - 1)
        with context.Pool(workers, initializer=_init_pusher, initargs=(url,)) as pool:
            processes = ProcessFanOut(pool)
            timed(
                f"fan-out, {workers} processes",
                Broadcaster(store, poster, max_workers=32, fan_out=processes, chunk_size=args.chunk),
                processes,
            )
    finally:
        for child in children:
            child.terminate()
        database.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
