"""Ingest of N markets on an anvil devnet: JSON-RPC round trips and wall time per tick.

Deploys the devnet once with Aave v3's real bytecode and ~60 reserves (Ethereum Core's count;
larger N repeat the markets), then for each N reads the
first N markets (a) the Tidewatch way: Multicall3 aggregate3, two phases, at one block, and (b) a
naive reader: one eth_call per value. Prints round trips, JSON-RPC calls and wall time side by
side, plus the full tick (read + Postgres + Redis) when --database-url/--redis-url are given.

    python bench/bench_ingest.py                 # N = 10, 100, 1000
    python bench/bench_ingest.py --sizes 10,100 --database-url postgresql://... --redis-url redis://...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local")]

from tidewatch.chain.multicall import BlockRef, Call, CallResult  # noqa: E402
from tidewatch.chain.rpc import ChainClient, RpcError, urllib_transport  # noqa: E402
from tidewatch.protocols.reader import market_plan, read_markets  # noqa: E402
from tidewatch.protocols.registry import ChainRegistry, load_registry  # noqa: E402
from tidewatch_local.devnet import deploy_and_seed, start_anvil  # noqa: E402


class Counting:
    def __init__(self) -> None:
        self.requests = 0
        self.calls = 0

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.requests += 1
        payload = json.loads(body)
        self.calls += len(payload) if isinstance(payload, list) else 1
        return urllib_transport(url, body, timeout)


def _single(client: ChainClient, call: Call, block: int) -> CallResult:
    try:
        data = client.eth_call(call.target, call.calldata(), block)
    except RpcError as exc:
        return CallResult(False, error=str(exc))
    return CallResult(True, call.function.decode(data))


def naive_read(client: ChainClient, chain: ChainRegistry) -> int:
    """One eth_call per value (still pinned to one block): what a straightforward reader does."""
    block = client.block_number()
    ok = 0
    for m in chain.markets:
        plan = market_plan(chain.chain_id, m)
        pre = [_single(client, c, block) for c in plan.prelude]
        results = [_single(client, c, block) for c in plan.main(pre)]
        plan.build(pre, results, BlockRef(block, 0))
        ok += 1
    return ok


def measure(fn: Any, repeat: int) -> tuple[float, Counting, Any]:
    times, counter, out = [], Counting(), None
    for _ in range(repeat):
        counter = Counting()
        start = time.perf_counter()
        out = fn(counter)
        times.append(time.perf_counter() - start)
    return statistics.median(times), counter, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-max", type=int, default=1000, help="skip the naive reader above this N")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    node = start_anvil()
    try:
        t0 = time.perf_counter()
        deployment = deploy_and_seed(
            node.url,
            registry_path=Path("/tmp/tidewatch-bench-registry.json"),
            # Aave v3 lists at most 128 reserves per pool: 55 extra make Ethereum Core's ~60.
            extra_aave_reserves=min(max(0, max(sizes) - 10), 55),
        )
        full = load_registry(deployment.path or "").chains[0]
        print(
            f"devnet: anvil {node.url}, {len(full.markets)} markets (Aave v3 bytecode) seeded in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        print(
            f"{'N':>6} | {'multicall trips':>15} {'calls':>6} {'wall ms':>9} | {'naive trips':>11} {'calls':>6} {'wall ms':>9} | {'speed-up':>8}"
        )
        for n in sizes:
            # Beyond the pool's real reserves the markets repeat (each read is still a full read).
            repeated = full.markets * (n // len(full.markets) + 1)
            chain = full.model_copy(update={"markets": repeated[:n]})

            def multicall(counter: Counting, chain: ChainRegistry = chain) -> Any:
                client = ChainClient(chain.chain_id, [node.url], transport=counter)
                return read_markets(client, chain)

            def naive(counter: Counting, chain: ChainRegistry = chain) -> Any:
                client = ChainClient(chain.chain_id, [node.url], transport=counter)
                return naive_read(client, chain)

            mc_time, mc, result = measure(multicall, args.repeat)
            assert len(result.snapshots) == n, result.failures[:3]
            if n <= args.naive_max:
                nv_time, nv, _ = measure(naive, 1)
                naive_cols = f"{nv.requests:>11} {nv.calls:>6} {nv_time * 1000:>9.1f} | {nv_time / mc_time:>7.1f}x"
            else:
                naive_cols = f"{'(skipped)':>11} {'':>6} {'':>9} | {'':>8}"
            print(f"{n:>6} | {mc.requests:>15} {mc.calls:>6} {mc_time * 1000:>9.1f} | {naive_cols}")

            if args.database_url:
                _full_tick(args, node.url, chain)
    finally:
        node.stop()
    return 0


def timed_tick(
    database: Any, redis: Any, url: str, chain: ChainRegistry, *, label: str = "bench", discovery: Any = None
) -> tuple[Any, Counting, float]:
    """One full ingest tick (read + Postgres + Redis + events) of `chain`: its result, the RPC
    traffic it made and its wall time in seconds."""
    from ingest.logic import run_tick
    from tidewatch.events import ScheduledEvent
    from tidewatch.marketfeed import InMemoryPublisher
    from tidewatch.protocols.registry import Registry

    counter = Counting()
    event = ScheduledEvent.model_validate(
        {"id": label, "detail-type": "Scheduled Event", "source": "aws.events", "time": datetime.now(UTC).isoformat()}
    )
    start = time.perf_counter()
    result = run_tick(
        event,
        database=database,
        redis=redis,
        registry=Registry(name="bench", chains=(chain,)),
        clients={chain.chain_id: ChainClient(chain.chain_id, [url], transport=counter)},
        publisher=InMemoryPublisher(),
        discovery=discovery,
    )
    return result, counter, time.perf_counter() - start


def open_stores(args: argparse.Namespace) -> tuple[Any, Any]:
    """The migrated database and (if given) the Redis client of --database-url / --redis-url."""
    from tidewatch.cache import connect_redis
    from tidewatch.db import Database
    from tidewatch.migrate import apply_migrations

    database = Database(args.database_url)
    apply_migrations(database)
    return database, connect_redis(args.redis_url) if args.redis_url else None


def _full_tick(args: argparse.Namespace, url: str, chain: ChainRegistry) -> None:
    database, redis = open_stores(args)
    result, counter, wall = timed_tick(database, redis, url, chain)
    c = result.chains[0]
    print(
        f"{'':>6}   full tick: {counter.requests} round trips, {c.rows_inserted} rows, {c.events_published} events, {wall * 1000:.1f} ms"
    )
    database.close()


if __name__ == "__main__":
    raise SystemExit(main())
