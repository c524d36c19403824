"""Wallet benchmark: build + simulate one transaction bundle, and a batch of 100, on a seeded anvil.

Prints wall time and JSON-RPC round trips (HTTP POSTs) for:
  * one intent (`prepare_on_chain` with one intent),
  * 100 intents batched (one multicall for every read, one JSON-RPC batch for every simulation),
  * the same 100 intents prepared one by one (the naive loop), for comparison in the same run.

Run: /work/main/.venv/bin/python bench/bench_wallet.py [--batch 100] [--repeat 3]
(needs anvil: `npm ci` in devnet/, or TIDEWATCH_ANVIL_BIN). Database writes are not included:
this measures the chain work (reads, fees, nonces, eth_call / eth_estimateGas / eth_simulateV1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local")]

from tidewatch.chain.rpc import ChainClient, urllib_transport  # noqa: E402
from tidewatch.protocols.registry import Registry  # noqa: E402
from tidewatch.transactions.models import Intent  # noqa: E402
from tidewatch.transactions.preparer import prepare_on_chain  # noqa: E402
from tidewatch.transactions.settings import WalletSettings  # noqa: E402
from tidewatch_local.devnet import deploy_and_seed, start_anvil  # noqa: E402


def intents(users: dict[str, dict[str, str]], n: int) -> list[Intent]:
    alice, bob, carol = (users[u]["address"] for u in ("alice-healthy", "bob-near-liquidation", "carol-staker"))
    shapes: list[dict[str, Any]] = [
        {"protocol": "aave-v3", "action": "supply", "from": alice, "asset": "USDC", "amount": "10"},
        {"protocol": "aave-v3", "action": "repay", "from": alice, "asset": "USDC", "amount": "5"},
        {"protocol": "aave-v3", "action": "withdraw", "from": alice, "asset": "WETH", "amount": "0.01"},
        {"protocol": "aave-v3", "action": "borrow", "from": alice, "asset": "DAI", "amount": "1"},
        {"protocol": "compound-v3", "action": "supply", "from": alice, "asset": "USDC", "amount": "1"},
        {"protocol": "compound-v3", "action": "withdraw", "from": carol, "asset": "WETH", "amount": "0.1"},
        {"protocol": "eigenlayer", "action": "deposit", "from": carol, "asset": "stETH", "amount": "0.5"},
        {"protocol": "aave-v3", "action": "repay", "from": bob, "asset": "USDC", "amount": "1"},
    ]
    return [Intent.model_validate({"chain_id": 1, **shapes[i % len(shapes)]}) for i in range(n)]


def timed(client: ChainClient, fn: Any) -> tuple[float, int, Any]:
    trips = client.round_trips
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, client.round_trips - trips, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--latency-ms", type=float, default=30.0, help="added per round trip in a second pass (a hosted RPC's RTT)"
    )
    args = parser.parse_args()

    with start_anvil() as node:
        deployment = deploy_and_seed(node.url)
        registry = Registry.model_validate(deployment.registry)
        chain = registry.chain(deployment.chain_id)
        settings = WalletSettings()
        batch = intents(deployment.users, args.batch)
        for latency in (0.0, args.latency_ms):
            client = ChainClient(deployment.chain_id, [node.url], transport=with_latency(latency / 1000))
            prepare_on_chain(client, chain, batch[:1], settings)  # warm-up (connections, caches)
            report(f"localhost anvil + {latency:g} ms per round trip", measure(client, chain, batch, settings, args))


def with_latency(seconds: float) -> Any:
    def transport(url: str, body: bytes, timeout: float) -> bytes:
        if seconds:
            time.sleep(seconds)
        return urllib_transport(url, body, timeout)

    return transport


def measure(client: ChainClient, chain: Any, batch: list[Intent], settings: WalletSettings, args: Any) -> list[Any]:
    rows = []
    for label, run in (
        ("1 intent", lambda: [prepare_on_chain(client, chain, batch[:1], settings)]),
        (f"{args.batch} intents, batched", lambda: [prepare_on_chain(client, chain, batch, settings)]),
        (
            f"{args.batch} intents, one by one",
            lambda: [prepare_on_chain(client, chain, [i], settings) for i in batch],
        ),
    ):
        times, trips, outcome = [], 0, None
        for _ in range(args.repeat):
            seconds, trips, outcome = timed(client, run)
            times.append(seconds)
        results = [p for chunk in outcome for p in chunk]
        ready = sum(p.error is None for p in results)
        txs = sum(len(p.transactions) for p in results)
        rows.append((label, statistics.median(times), trips, ready, len(results), txs))
    return rows


def report(title: str, rows: list[Any]) -> None:
    print(f"\nwallet prepare (build + simulate), {title}, median of runs")
    print(f"{'case':<28} {'wall ms':>9} {'round trips':>12} {'ready':>9} {'txs':>5} {'ms/intent':>10}")
    for label, seconds, trips, ready, total, txs in rows:
        print(
            f"{label:<28} {seconds * 1000:9.1f} {trips:12d} {ready:>4}/{total:<4} {txs:5d} {seconds * 1000 / total:10.2f}"
        )
    batched, naive = rows[1], rows[2]
    print(
        f"batched vs one-by-one: {naive[1] / batched[1]:.1f}x faster, "
        f"{naive[2] / max(batched[2], 1):.0f}x fewer round trips"
    )


if __name__ == "__main__":
    main()
