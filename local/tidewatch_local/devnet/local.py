"""The devnet of `tidewatch dev`: anvil + deployed, seeded contracts + a simulator thread.

`local_chain(state_dir)` returns the environment the functions need (RPC URLs and the registry
path), human-readable notes, and `stop()`. The simulator nudges the markets every
`simulate_every` seconds (TIDEWATCH_DEVNET_SIMULATE_SECONDS, default 15; 0 disables it).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tidewatch_local.devnet.anvil import AnvilNode, start_anvil
from tidewatch_local.devnet.deploy import Deployment, deploy_and_seed
from tidewatch_local.devnet.simulator import Simulator


@dataclass
class LocalChain:
    node: AnvilNode
    deployment: Deployment
    registry_path: Path
    simulate_every: float
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


def local_chain(state_dir: Path, *, port: int | None = None, simulate_every: float | None = None) -> LocalChain:
    if simulate_every is None:
        simulate_every = float(os.environ.get("TIDEWATCH_DEVNET_SIMULATE_SECONDS", "15"))
    node = start_anvil(port)
    try:
        registry_path = Path(state_dir) / "devnet" / "registry.json"
        deployment = deploy_and_seed(node.url, registry_path=registry_path)
    except Exception:
        node.stop()
        raise
    chain = LocalChain(node, deployment, registry_path, simulate_every)
    chain.start_simulator()
    return chain
