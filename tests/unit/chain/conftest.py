"""The chain tests' devnet: one anvil node, deployed and seeded once per test session.

The tests talk to it through `Web3Transport` (web3's provider, one counted "request" per JSON-RPC
payload), so round-trip counts are those of the client under test. Anvil executes the Aave,
Compound and EigenLayer deployment in seconds where py-evm took minutes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch_local.devnet import Deployment, deploy_and_seed, start_anvil
from tidewatch_local.devnet.web3_transport import Web3Transport

DEVNET_CHAIN_ID = 31337


@dataclass
class InProcessDevnet:
    w3: Web3
    deployment: Deployment
    registry: Registry

    @property
    def chain_id(self) -> int:
        return self.registry.chains[0].chain_id

    def snapshot(self) -> str:
        """The node's state id to `revert` to (anvil's evm_snapshot)."""
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snapshot: str) -> None:
        self.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]

    def client(self, urls: list[str] | None = None) -> tuple[ChainClient, Web3Transport]:
        transport = Web3Transport(self.w3)
        return ChainClient(self.chain_id, urls or ["inprocess://devnet"], transport=transport), transport


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessDevnet]:
    node = start_anvil(chain_id=DEVNET_CHAIN_ID)
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        path: Path = tmp_path_factory.mktemp("devnet") / "registry.json"
        deployment = deploy_and_seed(w3, registry_path=path)
        yield InProcessDevnet(w3, deployment, load_registry(path))
    finally:
        node.stop()


@pytest.fixture
def make_client(devnet: InProcessDevnet) -> Callable[[], tuple[ChainClient, Web3Transport]]:
    return lambda: devnet.client()
