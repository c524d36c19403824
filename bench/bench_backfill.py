"""Backfill of 30 days of hourly history on the devnet: requests per day of history, wall time.

Starts anvil 30 days in the past, deploys and seeds the devnet (Aave v3's real bytecode, Comet,
EigenLayer), simulates the month hour by hour (`devnet.history`), then backfills it into a
throwaway PostgreSQL database through `tidewatch.backfill` (the code path `tidewatch backfill` and
the ingest function's heal schedule use):

* at 0 ms added latency, and at +50 ms per HTTP request through a local delaying proxy;
* beside a one-call-per-value baseline (a header per binary-search step, one eth_call per value,
  per hour), measured over `--baseline-hours` and scaled to the window (printed as such).

Figures are per chain and per day of history: HTTP requests (round trips) and JSON-RPC calls.

    python bench/bench_backfill.py [--days 30] [--latency-ms 50] [--baseline-hours 24]
                                   [--admin-database-url postgresql://127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import http.server
import secrets
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT / "bench")]

import psycopg  # noqa: E402

from bench_ingest import Counting, _single  # noqa: E402
from tidewatch.backfill.markets import backfill_markets  # noqa: E402
from tidewatch.backfill.window import Window  # noqa: E402
from tidewatch.chain.multicall import BlockRef  # noqa: E402
from tidewatch.chain.rpc import ChainClient  # noqa: E402
from tidewatch.db import Database  # noqa: E402
from tidewatch.migrate import apply_migrations  # noqa: E402
from tidewatch.protocols.discovery import DiscoveryCache, discover  # noqa: E402
from tidewatch.protocols.reader import market_plan  # noqa: E402
from tidewatch.protocols.registry import ChainRegistry, load_registry  # noqa: E402
from tidewatch_local.devnet import deploy_and_seed, start_anvil  # noqa: E402
from tidewatch_local.devnet.history import HOUR, simulate_history  # noqa: E402


class DelayProxy:
    """A loopback HTTP proxy that holds each POST for `delay` seconds before forwarding it."""

    def __init__(self, target: str, delay: float) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(proxy.delay)
                request = urllib.request.Request(  # noqa: S310 - loopback target
                    target, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
                    answer = response.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                return

        self.delay = delay
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _truncate(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("TRUNCATE market_rates, asset_prices, markets, backfill_buckets, backfill_jobs CASCADE")


def run_backfill(db: Database, registry: Any, url: str, window: Window) -> tuple[float, Counting, int]:
    _truncate(db)
    counter = Counting()
    client = ChainClient(registry.chains[0].chain_id, [url], transport=counter, timeout=60)
    start = time.perf_counter()
    (result,) = backfill_markets(db, registry, {client.chain_id: client}, window)
    assert result.complete, result
    return time.perf_counter() - start, counter, result.rows_written


def baseline(chain: ChainRegistry, url: str, window: Window, hours: int) -> tuple[float, Counting]:
    """Per hour: binary search one header per request, then one eth_call per value."""
    counter = Counting()
    client = ChainClient(chain.chain_id, [url], transport=counter, timeout=60)
    found = discover(client, chain, DiscoveryCache())
    head = client.block_number()
    start = time.perf_counter()
    for h in range(hours):
        target = int(window.start.timestamp()) + h * HOUR
        lo, hi = 0, head
        while hi - lo > 1:
            mid = (lo + hi) // 2
            ts = int(client.request("eth_getBlockByNumber", [hex(mid), False])["timestamp"], 16)
            lo, hi = (lo, mid) if ts >= target else (mid, hi)
        for m in found.chain.markets:
            plan = market_plan(chain.chain_id, m)
            pre = [_single(client, c, hi) for c in plan.prelude]
            try:
                results = [_single(client, c, hi) for c in plan.main(pre)]
                plan.build(pre, results, BlockRef(hi, target))
            except Exception:  # noqa: S112 - a market unreadable at that hour is skipped, as backfill does
                continue
    return time.perf_counter() - start, counter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--baseline-hours", type=int, default=24)
    parser.add_argument("--admin-database-url", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()

    hours = args.days * 24
    now = int(time.time())
    start = (now // HOUR) * HOUR - hours * HOUR
    node = start_anvil(genesis_timestamp=start - 2 * HOUR)
    name = f"tw_bench_backfill_{secrets.token_hex(3)}"
    base, _, _ = args.admin_database_url.rpartition("/")
    with psycopg.connect(args.admin_database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    db = Database(f"{base}/{name}")
    proxy: DelayProxy | None = None
    try:
        apply_migrations(db)
        t0 = time.perf_counter()
        deployment = deploy_and_seed(node.url, registry_path=Path(f"/tmp/{name}.json"))
        t1 = time.perf_counter()
        history = simulate_history(node.url, deployment, start=start, hours=hours)
        t2 = time.perf_counter()
        registry = load_registry(deployment.path or "")
        chain = registry.chains[0]
        markets = len(discover(ChainClient(chain.chain_id, [node.url]), chain, DiscoveryCache()).chain.markets)
        window = Window(
            datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start, tz=UTC) + timedelta(hours=hours)
        )
        print(
            f"devnet: {markets} markets on chain {chain.chain_id}; deployed in {t1 - t0:.1f} s, "
            f"{args.days} days simulated ({history.transactions} transactions, liquidation: "
            f"{history.liquidation.get('liquidated')}) in {t2 - t1:.1f} s"
        )
        proxy = DelayProxy(node.url, args.latency_ms / 1000)
        rows: list[tuple[str, float, float, float, float]] = []
        for label, url in (("backfill, 0 ms", node.url), (f"backfill, +{args.latency_ms:g} ms", proxy.url)):
            wall, counter, written = run_backfill(db, registry, url, window)
            rows.append((label, counter.requests / args.days, counter.calls / args.days, wall, written))
        scale = hours / args.baseline_hours
        for label, url in (
            ("one call per value, 0 ms", node.url),
            (f"one call per value, +{args.latency_ms:g} ms", proxy.url),
        ):
            wall, counter = baseline(chain, url, window, args.baseline_hours)
            rows.append(
                (
                    label + " (scaled)",
                    counter.requests / args.baseline_hours * 24,
                    counter.calls / args.baseline_hours * 24,
                    wall * scale,
                    -1,
                )
            )

        print(f"\n{args.days} days hourly, 1 chain, {markets} markets ({hours} hourly blocks)")
        print(f"{'run':<38}{'HTTP req/day':>14}{'JSON-RPC calls/day':>20}{'wall (window)':>16}{'rows':>8}")
        for label, req, calls, seconds, stored in rows:
            shown = str(int(stored)) if stored >= 0 else "-"
            print(f"{label:<38}{req:>14.1f}{calls:>20.1f}{seconds:>14.1f} s{shown:>8}")
        batched, naive = rows[1], rows[3]
        print(
            f"\nat +{args.latency_ms:g} ms: {naive[1] / batched[1]:.0f}x fewer HTTP requests, "
            f"{naive[3] / batched[3]:.0f}x less wall time than one call per value "
            f"(baseline scaled from {args.baseline_hours} h)"
        )
    finally:
        if proxy is not None:
            proxy.close()
        db.close()
        with psycopg.connect(args.admin_database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
