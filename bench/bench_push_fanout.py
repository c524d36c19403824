"""Pushing one market update to 10,000 WebSocket connections through the local gateway (prints figures).

    python bench/bench_push_fanout.py [--connections 10000] [--chunk 1000] [--clients 2] [--processes 1,2]

What runs, each part in processes of its own:
- the local gateway (`tidewatch_local.gateway.LocalGateway` under uvicorn, bound and served as
  `tidewatch dev --gateway-processes N` runs it, `tidewatch_local.gateway_processes`), one run for
  each `--processes` count: past one process each holds the sockets the kernel gave it on the
  shared port (SO_REUSEPORT) and answers the management API (`POST /local/@connections/{id}`)
  for them on a port of its own, and each connection's row names its process's endpoint;
- WebSocket clients: `--clients` processes holding the 10,000 client sockets (minimal RFC 6455
  clients: handshake, pings answered, frames counted), each counting what arrives on every one of
  its sockets; a broadcast has finished when every socket has its message;
- the broadcasters: `websocket_connections` rows in a real PostgreSQL database, subscribed to the
  market, read by `Broadcaster.publish_market`; every `post_to_connection` is one HTTP request to
  the gateway (pipelined on keep-alive sockets, `HttpConnectionPoster.post_many`), and 1 % more
  rows name connections that no longer exist (410 Gone: deleted).
The file-descriptor limit is raised to the hard limit (10,000 sockets need more than 10,000 on
the gateway's side); a broadcast in which any post went unanswered stops the run with the count.
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
import base64
import dataclasses
import functools
import gc
import hashlib
import multiprocessing
import os
import resource
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
# The poster's bound on one answer: above the product's 2 s, since ten thousand posts compete here
# with the gateway, the clients and other work for two cores (a slow answer shows in the wall time).
POST_TIMEOUT = 10.0
TARGET_S = 1.0  # for 10,000 connections (scaled in proportion for other counts)


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


# ---------------------------------------------------------------- the local gateway (own processes)
def _serve_gateway(port: int, processes: int, ids: Any) -> None:
    """One process of the local gateway, bound and served as `tidewatch dev --gateway-processes` does."""
    from tidewatch_local.gateway import LocalGateway
    from tidewatch_local.gateway_processes import bind, serve
    from tidewatch_local.invoker import LocalInvoker
    from tidewatch_local.template import read_template

    sockets = bind("127.0.0.1", port, processes=processes)
    template = dataclasses.replace(read_template(), websocket_routes={})
    gateway = LocalGateway(template, LocalInvoker(template), stage=STAGE, management_host=sockets.management_host)

    def answer() -> None:  # the connection ids this process holds, its endpoint, or its CPU time so far
        while True:
            question = ids.recv()
            if question == "ids":
                # Ten thousand open sockets are a few million long-lived objects; a full cyclic
                # collection over them stalls the event loop for seconds on a loaded machine.
                # Moving them out of the collector's sight is what a long-running server does.
                gc.freeze()
                ids.send(list(gateway.connections))
            elif question == "endpoint":
                ids.send(gateway.management_endpoint())
            else:
                ids.send(time.process_time())

    threading.Thread(target=answer, daemon=True).start()
    serve(gateway, sockets)


# ---------------------------------------------------------------- WebSocket clients (own process)
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _CountingClient(asyncio.Protocol):
    """One real WebSocket client (RFC 6455 handshake, frames read off the wire) that counts messages.

    A general client library spends about 100 µs of CPU a message on its own bookkeeping, which on
    this two-core machine would be taken from the gateway being measured; this client does the
    handshake, answers pings and counts whole data frames, and nothing else.
    """

    def __init__(self, host: str, on_message: Any, opened: asyncio.Future[None]) -> None:
        self._key = base64.b64encode(secrets.token_bytes(16))
        self._host = host.encode()
        self._on_message = on_message
        self._opened = opened
        self._buffer = b""
        self._upgraded = False
        self._transport: Any = None
        self.received = 0

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        transport.write(
            b"GET /ws HTTP/1.1\r\nHost: " + self._host + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + self._key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._opened.done():
            self._opened.set_exception(exc or ConnectionError("closed during the handshake"))

    def _send(self, opcode: int, payload: bytes) -> None:  # clients mask every frame they send
        mask = secrets.token_bytes(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def data_received(self, data: bytes) -> None:
        buf = self._buffer + data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buf
                return
            digest = hashlib.sha1(self._key + _WS_GUID, usedforsecurity=False).digest()  # RFC 6455 accept key
            accept = base64.b64encode(digest)
            answer = buf[:end].lower()
            if not answer.startswith(b"http/1.1 101") or b"sec-websocket-accept: " + accept.lower() not in answer:
                self._opened.set_exception(ConnectionError(buf[:end].decode(errors="replace")))
                self._transport.close()
                return
            self._upgraded = True
            self._opened.set_result(None)
            buf = buf[end + 4 :]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length, head = buf[pos + 1] & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            if size - pos < head + length:
                break
            opcode = buf[pos] & 0x0F
            if opcode in (0x1, 0x2):
                self.received += 1
                self._on_message(self.received)
            elif opcode == 0x9:  # ping: pong with the same payload
                self._send(0xA, buf[pos + head : pos + head + length])
            elif opcode == 0x8:
                self._transport.close()
            pos += head + length
        self._buffer = buf[pos:]


def _clients(host: str, port: int, n: int, ready: Any, done: Any, index: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        complete: dict[int, int] = {}

        def arrived(received: int) -> None:
            complete[received] = complete.get(received, 0) + 1
            if complete[received] == n:  # every socket of this process has broadcast `received`
                done.put((index, received, time.monotonic(), time.process_time()))

        for start in range(0, n, 200):
            opened = [loop.create_future() for _ in range(start, min(n, start + 200))]
            for future in opened:
                await loop.create_connection(
                    functools.partial(_CountingClient, f"{host}:{port}", arrived, future), host, port
                )
            await asyncio.gather(*opened)
        ready.put(n)
        await asyncio.Event().wait()  # the sockets stay open until the benchmark ends

    asyncio.run(main())


# ---------------------------------------------------------------- chunk worker (own process)
_pusher: Any = None


def _init_pusher(database_url: str) -> None:
    global _pusher
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.http_push import HttpConnectionPoster
    from tidewatch.live.repository import ConnectionStore

    # Pipelined, eight sockets a chunk's process keep 128 posts in flight: enough for one gateway
    # process, which otherwise spends its time parsing requests it cannot answer yet.
    poster = HttpConnectionPoster(timeout_seconds=POST_TIMEOUT)
    _pusher = Broadcaster(ConnectionStore(Database(database_url)), poster, max_workers=8)


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
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="timed broadcasts per way (the best is printed too)")
    parser.add_argument(
        "--processes", default="1,2", help="gateway processes, one run each (comma-separated, e.g. 1,2,4)"
    )
    parser.add_argument(
        "--chunk-workers", type=int, default=32, help="threads of the broadcaster the chunks on threads share"
    )
    parser.add_argument(
        "--ways", default="threads,processes", help="chunk fan-out ways: threads and/or processes (comma-separated)"
    )
    args = parser.parse_args()
    n = args.connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # children inherit it
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < n + 1000:
        raise SystemExit(f"{n:,} sockets need a file descriptor limit above {n + 1000:,} (hard limit {hard:,})")
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    for processes in [int(p) for p in args.processes.split(",")]:
        run(processes, args, ways=set(args.ways.split(",")))


def run(processes: int, args: argparse.Namespace, *, ways: set[str]) -> None:
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.http_push import HttpConnectionPoster
    from tidewatch.live.repository import ConnectionStore
    from tidewatch_local.gateway_processes import ensure_free

    n = args.connections
    name = f"tw_bench_push_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    database = Database(url, pool_size=4)
    context = multiprocessing.get_context("spawn")
    port = _free_port()
    ensure_free("127.0.0.1", port)
    pipes = [context.Pipe() for _ in range(processes)]
    children = [
        context.Process(target=_serve_gateway, args=(port, processes, there), daemon=True) for _, there in pipes
    ]
    gateways = [here for here, _ in pipes]
    ready, done = context.Queue(), context.Queue()
    per_client = [n // args.clients + (1 if i < n % args.clients else 0) for i in range(args.clients)]
    print(f"-- {processes} gateway process{'es' if processes > 1 else ''} (SO_REUSEPORT past one)")
    try:
        for child in children:
            child.start()
        apply_migrations(database)
        endpoints: list[str] = []
        for gateway in gateways:  # each answers once its sockets listen
            gateway.send("endpoint")
            if not gateway.poll(120):
                raise SystemExit("a local gateway process did not start in 120 s")
            endpoints.append(gateway.recv())
        for _ in range(600):  # the gateway processes import the template's code first
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if not all(c.is_alive() for c in children):
                    raise SystemExit("the local gateway did not start") from None
                time.sleep(0.1)
        else:
            raise SystemExit("the local gateway did not start in 60 s")
        started = time.perf_counter()
        for index, count in enumerate(per_client):
            client = context.Process(target=_clients, args=("127.0.0.1", port, count, ready, done, index))
            children.append(client)
            children[-1].start()
        for _ in per_client:
            ready.get(timeout=900)
        # A client sees the 101 answer a moment before the gateway files the socket under its id.
        held: list[list[str]] = []
        for _ in range(300):
            held = []
            for gateway in gateways:
                gateway.send("ids")
                held.append(gateway.recv())
            if sum(len(h) for h in held) >= n:
                break
            time.sleep(0.1)
        print(
            f"{sum(len(h) for h in held):,} WebSocket connections open to the local gateway in "
            f"{time.perf_counter() - started:.1f} s ({args.clients} client processes; "
            f"{' + '.join(f'{len(h):,}' for h in held)} a gateway process)"
        )
        with database.connection() as conn:
            conn.execute("INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa')")
            with conn.cursor().copy(
                "COPY websocket_connections (connection_id, user_id, endpoint, topics) FROM STDIN"
            ) as copy:
                for endpoint, ids in zip(endpoints, held, strict=True):
                    for cid in ids:
                        copy.write_row((cid, 1, endpoint, ["markets"]))
        store = ConnectionStore(database)
        poster = HttpConnectionPoster(timeout_seconds=POST_TIMEOUT)
        message = {"supply_apy": 0.0412, "borrow_apy": 0.0533}
        broadcasts = 0

        def add_gone() -> None:  # 1 % more rows, spread over the processes' endpoints
            with database.connection() as conn:
                for endpoint in endpoints:
                    conn.execute(
                        "INSERT INTO websocket_connections (connection_id, user_id, endpoint, topics) "
                        "SELECT 'gone-' || md5(random()::text), 1, %s, ARRAY['markets'] FROM generate_series(1, %s)",
                        (endpoint, max(1, n // 100 // len(endpoints))),
                    )

        client_cpu = [0.0] * len(per_client)

        def gateway_cpu() -> list[float]:
            for gateway in gateways:
                gateway.send("cpu")
            return [float(gateway.recv()) for gateway in gateways]

        def broadcast(
            broadcaster: Broadcaster, fan_out: Any
        ) -> tuple[float, float, int, int, tuple[float, float, float], list[float]]:
            nonlocal broadcasts
            add_gone()
            gateway_before = gateway_cpu()
            cpu = time.process_time()
            began = time.monotonic()
            report = broadcaster.publish_market(1, message)
            returned = time.monotonic()
            cpu = time.process_time() - cpu + fan_out.cpu
            broadcasts += 1
            delivered = report.delivered + fan_out.delivered
            gone = report.gone + fan_out.gone
            if delivered < n:  # a socket that missed this message never completes a later count
                raise SystemExit(
                    f"only {delivered:,} of {n:,} posts were answered (the rest timed out after "
                    f"{POST_TIMEOUT:g} s); load average {os.getloadavg()[0]:.2f}"
                )
            finished: list[float] = []
            clients = 0.0
            while len(finished) < len(per_client):
                index, number, at, used = done.get(timeout=60)
                if number == broadcasts:
                    finished.append(at)
                    clients += used - client_cpu[index]
                    client_cpu[index] = used
            each = [after - before for before, after in zip(gateway_before, gateway_cpu(), strict=True)]
            return max(finished) - began, returned - began, delivered, gone, (sum(each), clients, cpu), each

        def timed(label: str, broadcaster: Broadcaster, fan_out: Any) -> None:
            broadcast(broadcaster, fan_out)  # warm: pools, keep-alive connections, the query plan
            runs = [broadcast(broadcaster, fan_out) for _ in range(args.rounds)]
            walls = sorted(r[0] for r in runs)
            _, returned, delivered, gone, _, _ = runs[-1]
            gateway, clients, broadcasters = (min(r[4][k] for r in runs) for k in range(3))
            busiest = min(max(r[5]) for r in runs)  # the gateway process with the most work, its least
            print(
                f"{label:<24} {n:,} sockets received in {walls[len(walls) // 2]:.3f} s median, "
                f"{walls[0]:.3f} s best of {len(runs)} ({n / walls[len(walls) // 2]:,.0f} posts/s; median "
                f"{walls[len(walls) // 2] / (TARGET_S * n / 10_000):.2f} × the target); "
                f"publish returned after {returned:.3f} s; delivered {delivered:,}, gone {gone:,} deleted; "
                f"load average {os.getloadavg()[0]:.2f}"
            )
            print(
                f"{'':<24} CPU time (least of the runs): gateway {gateway:.3f} s over {processes} process(es) "
                f"(busiest {busiest:.3f} s), clients {clients:.3f} s, broadcasters {broadcasters:.3f} s "
                f"({1e6 * gateway / n:.0f} + {1e6 * clients / n:.0f} + {1e6 * broadcasters / n:.0f} µs a post)"
            )

        if "threads" in ways:
            # One broadcaster pushes every handed-off chunk, as the local run's push handler does:
            # its threads are shared by the chunks (in AWS each chunk's invocation has its own).
            pusher = Broadcaster(store, poster, max_workers=args.chunk_workers)
            threads = CountingThreads(pusher)
            timed(
                f"fan-out, threads ({args.chunk_workers})",
                Broadcaster(store, poster, max_workers=32, fan_out=threads, chunk_size=args.chunk),
                threads,
            )
        if "processes" in ways:
            workers = max(1, -(-n // args.chunk) - 1)
            with context.Pool(workers, initializer=_init_pusher, initargs=(url,)) as pool:
                fan_out = ProcessFanOut(pool)
                timed(
                    f"fan-out, {workers} processes",
                    Broadcaster(store, poster, max_workers=32, fan_out=fan_out, chunk_size=args.chunk),
                    fan_out,
                )
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=10)
        database.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
