"""A real anvil node over HTTP, deployed and seeded once per session (started and stopped here)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tidewatch.chain.rpc import ChainClient, Transport, urllib_transport
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch_local.devnet import AnvilNode, Deployment, deploy_and_seed, start_anvil


@dataclass
class AnvilDevnet:
    node: AnvilNode
    deployment: Deployment
    registry: Registry
    registry_path: Path

    @property
    def chain_id(self) -> int:
        return self.registry.chains[0].chain_id


class CountingTransport:
    """The real HTTP transport, counting requests (one per HTTP POST) and JSON-RPC calls."""

    def __init__(self, inner: Transport = urllib_transport) -> None:
        self.inner = inner
        self.requests = 0
        self.calls = 0
        self.by_url: dict[str, int] = {}

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.requests += 1
        self.by_url[url] = self.by_url.get(url, 0) + 1
        payload = json.loads(body)
        self.calls += len(payload) if isinstance(payload, list) else 1
        return self.inner(url, body, timeout)


@pytest.fixture(scope="session")
def anvil_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilDevnet]:
    node = start_anvil()
    try:
        path = tmp_path_factory.mktemp("anvil") / "registry.json"
        deployment = deploy_and_seed(node.url, registry_path=path)
        yield AnvilDevnet(node, deployment, load_registry(path), path)
    finally:
        node.stop()


@pytest.fixture
def http_client(anvil_devnet: AnvilDevnet) -> Callable[..., tuple[ChainClient, CountingTransport]]:
    def make(urls: list[str] | None = None, **kwargs: object) -> tuple[ChainClient, CountingTransport]:
        transport = CountingTransport()
        client = ChainClient(
            anvil_devnet.chain_id,
            urls or [anvil_devnet.node.url],
            transport=transport,
            sleep=lambda _s: None,
            **kwargs,  # type: ignore[arg-type]
        )
        return client, transport

    return make
