"""The devnet of `tidewatch dev`: anvil + deployed, seeded contracts + a simulator thread.

`local_chain(state_dir)` returns the environment the functions need (RPC URLs and the registry
path), human-readable notes, and `stop()`. The simulator nudges the markets every
`simulate_every` seconds (TIDEWATCH_DEVNET_SIMULATE_SECONDS, default 15; 0 disables it).

With `history_days` (TIDEWATCH_DEVNET_HISTORY_DAYS, default 30; 0 disables it) each chain starts
that many days in the past and lives them hour by hour (`devnet.history`), chains in parallel,
before the present-day simulator takes over: a fresh devnet then has a month of market history
for Tidewatch to backfill.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tidewatch_local.devnet.anvil import AnvilNode, start_anvil
from tidewatch_local.devnet.deploy import Deployment, deploy_and_seed
from tidewatch_local.devnet.history import HOUR, SimulatedHistory, mine_at, simulate_history, simulation_client
from tidewatch_local.devnet.simulator import Simulator


@dataclass
class LocalChain:
    node: AnvilNode
    deployment: Deployment
    registry_path: Path
    simulate_every: float
    history: SimulatedHistory | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def environment(self) -> dict[str, str]:
        return {
            "TIDEWATCH_RPC_URLS": json.dumps({str(self.node.chain_id): [self.node.url]}),
            "TIDEWATCH_REGISTRY": str(self.registry_path),
        }

    @property
    def notes(self) -> list[str]:
        users = ", ".join(f"{label} {info['address']}" for label, info in self.deployment.users.items())
        simulated = f"simulator every {self.simulate_every:g} s" if self.simulate_every else "simulator off"
        return [
            f"Chain: devnet (anvil) {self.node.url}, chain id {self.node.chain_id}, {simulated}",
            f"Devnet registry: {self.registry_path}",
            f"Seeded users (keys in the registry): {users}",
        ]

    def start_simulator(self) -> None:
        if not self.simulate_every or self._thread is not None:
            return
        simulator = Simulator(self.node.url, self.deployment)

        def loop() -> None:
            while not self._stop.wait(self.simulate_every):
                try:
                    simulator.step()
                except Exception as exc:  # keep the devnet alive; the next step retries
                    print(f"devnet simulator: {type(exc).__name__}: {exc}")

        self._thread = threading.Thread(target=loop, name="devnet-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.node.stop()


def _chain_ids_from_env() -> list[int]:
    raw = os.environ.get("TIDEWATCH_DEVNET_CHAIN_IDS", "1,8453")
    ids = [int(part) for part in raw.replace(" ", "").split(",") if part]
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"TIDEWATCH_DEVNET_CHAIN_IDS must list distinct chain ids, got {raw!r}")
    return ids


@dataclass
class LocalDevnet:
    """One seeded anvil per chain (Ethereum's and Base's ids by default) behind one registry.

    Deployments are deterministic (same deployer nonces, same seeded keys), so the contracts and
    the seeded users have the same addresses on every chain; the merged registry lists each chain
    with its own RPC URL, as mainnet and Base would be configured.
    """

    chains: list[LocalChain]
    registry_path: Path
    history_seconds: float = 0.0  # wall time of deploying and simulating the history

    @property
    def history_start(self) -> int | None:
        """Timestamp of the first simulated hour (None: no history simulated)."""
        starts = [c.history.start for c in self.chains if c.history is not None]
        return min(starts) if starts else None

    @property
    def environment(self) -> dict[str, str]:
        return {
            "TIDEWATCH_RPC_URLS": json.dumps({str(c.node.chain_id): [c.node.url] for c in self.chains}),
            "TIDEWATCH_REGISTRY": str(self.registry_path),
        }

    @property
    def notes(self) -> list[str]:
        first = self.chains[0]
        users = ", ".join(f"{label} {info['address']}" for label, info in first.deployment.users.items())
        simulated = f"simulator every {first.simulate_every:g} s" if first.simulate_every else "simulator off"
        nodes = ", ".join(f"chain {c.node.chain_id} {c.node.url}" for c in self.chains)
        return [
            f"Chains: devnet (anvil) {nodes}; {simulated}",
            f"Devnet registry: {self.registry_path}",
            f"Seeded users on every chain (keys in the registry): {users}",
        ]

    def stop(self) -> None:
        for chain in self.chains:
            chain.stop()


def _history_days() -> float:
    raw = os.environ.get("TIDEWATCH_DEVNET_HISTORY_DAYS", "30")
    days = float(raw)
    if not 0 <= days <= 366:
        raise ValueError(f"TIDEWATCH_DEVNET_HISTORY_DAYS must be 0..366, got {raw!r}")
    return days


def _start_one(folder: Path, chain_id: int, port: int | None, simulate_every: float, history_days: float) -> LocalChain:
    now = int(time.time())
    start = (now // HOUR) * HOUR - int(history_days * 24) * HOUR
    # The chain begins two hours before its simulated history, so deployment fits before it.
    genesis = start - 2 * HOUR if history_days else None
    node = start_anvil(port, chain_id=chain_id, genesis_timestamp=genesis)
    try:
        path = folder / f"registry-{chain_id}.json"
        deployment = deploy_and_seed(node.url, registry_path=path)
        history = None
        if history_days:
            client = simulation_client(chain_id, node.url)
            hours = (now // HOUR * HOUR - start) // HOUR + 1
            history = simulate_history(client, deployment, start=start, hours=hours, seed=chain_id)
            # Back to wall-clock time: blocks mined from here on carry the present's timestamps.
            mine_at(client, max(int(time.time()), start + (hours - 1) * HOUR + 1))
    except Exception:
        node.stop()
        raise
    return LocalChain(node, deployment, path, simulate_every, history)


def local_chain(
    state_dir: Path,
    *,
    port: int | None = None,
    simulate_every: float | None = None,
    chain_ids: list[int] | None = None,
    history_days: float | None = None,
) -> LocalDevnet:
    if simulate_every is None:
        simulate_every = float(os.environ.get("TIDEWATCH_DEVNET_SIMULATE_SECONDS", "15"))
    days = _history_days() if history_days is None else history_days
    ids = chain_ids or _chain_ids_from_env()
    folder = Path(state_dir) / "devnet"
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        futures = [
            pool.submit(_start_one, folder, chain_id, port + index if port else None, simulate_every, days)
            for index, chain_id in enumerate(ids)
        ]
        started: list[LocalChain] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                started.append(future.result())
            except Exception as exc:
                errors.append(exc)
    if errors:
        for chain in started:
            chain.stop()
        raise errors[0]
    merged = dict(started[0].deployment.registry)
    merged["name"] = "devnet"
    merged["chains"] = [chain for c in started for chain in c.deployment.registry["chains"]]
    registry_path = folder / "registry.json"
    registry_path.write_text(json.dumps(merged, indent=2))
    for chain in started:
        chain.start_simulator()
    return LocalDevnet(started, registry_path, history_seconds=round(time.monotonic() - began, 1))
