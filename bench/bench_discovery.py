"""Ingest with discovery at Ethereum Core's reserve count: round trips per tick, and what discovery costs.

Deploys Aave v3's real bytecode on anvil with ~60 reserves (Ethereum Core lists about 60), keeps
only the Aave root in the registry (every reserve is discovered), then measures:

* discovery on a cold cache (reserves list, token metadata, configuration, caps, eMode);
* a tick on a warm cache when nothing changed (target: <= 3 JSON-RPC round trips per chain);
* the full ingest tick (read + Postgres + Redis) when --database-url is given.

    python bench/bench_discovery.py [--reserves 60] [--repeat 5] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT / "bench")]

from bench_ingest import Counting, open_stores, timed_tick  # noqa: E402
from tidewatch.chain.rpc import ChainClient  # noqa: E402
from tidewatch.protocols.discovery import DiscoveryCache, discover, read_markets_discovered  # noqa: E402
from tidewatch.protocols.registry import load_registry  # noqa: E402
from tidewatch_local.devnet import deploy_and_seed, scenario, start_anvil  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reserves", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()

    node = start_anvil()
    try:
        t0 = time.perf_counter()
        extra = max(0, args.reserves - len(scenario.AAVE_RESERVES))
        deployment = deploy_and_seed(
            node.url, registry_path=Path("/tmp/tidewatch-bench-discovery.json"), extra_aave_reserves=extra
        )
        listed = load_registry(deployment.path or "").chains[0]
        chain = listed.with_markets(tuple(m for m in listed.markets if m.protocol != "aave-v3"))
        print(f"devnet: anvil {node.url}, Aave v3 with {args.reserves} reserves in {time.perf_counter() - t0:.1f} s")

        def client_with(counter: Counting) -> ChainClient:
            return ChainClient(chain.chain_id, [node.url], transport=counter)

        cold: list[tuple[float, Counting, int]] = []
        for _ in range(args.repeat):
            counter = Counting()
            start = time.perf_counter()
            found = discover(client_with(counter), chain, DiscoveryCache())
            cold.append((time.perf_counter() - start, counter, len(found.chain.markets)))
        wall, counter, markets = sorted(cold, key=lambda x: x[0])[len(cold) // 2]
        print(
            f"discovery (cold cache): {counter.requests} round trips, {counter.calls} JSON-RPC calls, "
            f"{wall * 1000:.1f} ms median, {markets} markets ({markets - len(chain.markets)} Aave reserves)"
        )

        cache = DiscoveryCache()
        read_markets_discovered(client_with(Counting()), chain, cache)
        warm: list[tuple[float, Counting, Any]] = []
        for _ in range(args.repeat):
            counter = Counting()
            start = time.perf_counter()
            read, found = read_markets_discovered(client_with(counter), chain, cache)
            warm.append((time.perf_counter() - start, counter, (read, found)))
        wall, counter, (read, found) = sorted(warm, key=lambda x: x[0])[len(warm) // 2]
        verdict = "within" if counter.requests <= 3 else "OVER"
        print(
            f"tick, warm cache, nothing changed: {counter.requests} round trips ({verdict} the 3 per chain target), "
            f"{counter.calls} JSON-RPC calls, {wall * 1000:.1f} ms median, {len(read.snapshots)} snapshots, "
            f"{len(read.failures)} failures, rediscovered {found.discovered or 'nothing'}"
        )
        print(
            f"discovery cost beside the tick: cold discovery = {cold[0][1].requests} extra round trips once per "
            f"{cache.ttl_seconds / 3600:.0f} h (or when the reserves list changes); warm: 0"
        )
        if args.database_url:
            _full_tick(args, node.url, chain)
    finally:
        node.stop()
    return 0


def _full_tick(args: argparse.Namespace, url: str, chain: Any) -> None:
    database, redis = open_stores(args)
    cache = DiscoveryCache()
    for label in ("cold", "warm"):
        result, counter, wall = timed_tick(database, redis, url, chain, label=f"bench-{label}", discovery=cache)
        c = result.chains[0]
        print(
            f"full ingest tick ({label} discovery cache): {counter.requests} round trips, {c.markets_read} markets, "
            f"{c.rows_inserted} rows, {wall * 1000:.1f} ms"
        )
    database.close()


if __name__ == "__main__":
    raise SystemExit(main())
