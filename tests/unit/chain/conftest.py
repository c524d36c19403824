"""An in-process devnet (eth-tester + py-evm), deployed and seeded once per test session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, Web3

from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch_local.devnet import Deployment, deploy_and_seed
from tidewatch_local.devnet.inprocess import Web3Transport

DEVNET_CHAIN_ID = 31337


@dataclass
class InProcessDevnet:
    w3: Web3
    deployment: Deployment
    registry: Registry

    @property
    def chain_id(self) -> int:
        return self.registry.chains[0].chain_id

    def client(self, urls: list[str] | None = None) -> tuple[ChainClient, Web3Transport]:
        transport = Web3Transport(self.w3)
        return ChainClient(self.chain_id, urls or ["inprocess://devnet"], transport=transport), transport


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> InProcessDevnet:
    provider = EthereumTesterProvider()
    # eth-tester's chain id (0x776562337079, "web3py") is beyond what Tidewatch stores and accepts
    # (a PostgreSQL integer); the devnet chain poses as a small local id instead, both in what the
    # node reports and in what its transactions are signed for.
    type(provider.ethereum_tester.backend.chain).chain_id = DEVNET_CHAIN_ID
    provider.api_endpoints = {
        **provider.api_endpoints,
        "eth": {**provider.api_endpoints["eth"], "chainId": lambda *_args, **_kwargs: DEVNET_CHAIN_ID},
    }
    w3 = Web3(provider)
    path: Path = tmp_path_factory.mktemp("devnet") / "registry.json"
    deployment = deploy_and_seed(w3, registry_path=path)
    return InProcessDevnet(w3, deployment, load_registry(path))


@pytest.fixture
def make_client(devnet: InProcessDevnet) -> Callable[[], tuple[ChainClient, Web3Transport]]:
    return lambda: devnet.client()
