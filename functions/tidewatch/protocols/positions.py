"""Positions of addresses across protocols and chains, cache-aside with stale-if-error.

The lean read path for the API: no web3 import (JSON-RPC over urllib, eth_abi decoding). Each
(chain, address) is cached for `ttl_seconds` (30 s by default); when the chain's RPC fails after
that, the last value is served marked stale with its age. A chain that fails with nothing cached
is reported in `errors` while the other chains still answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from tidewatch.cache import CacheAside, RedisClient
from tidewatch.chain.rpc import ChainClient
from tidewatch.errors import DomainError
from tidewatch.protocols.discovery import DiscoveryCache, read_positions_discovered
from tidewatch.protocols.models import ChainPosition
from tidewatch.protocols.reader import read_positions
from tidewatch.protocols.registry import Registry

POSITIONS_NAMESPACE = "positions"
DEFAULT_TTL_SECONDS = 30.0


class ChainPositionsView(BaseModel):
    chain_id: int
    block_number: int | None = None
    positions: list[ChainPosition] = Field(default_factory=list)
    stale: bool = False
    age_seconds: float = 0.0
    source: str = "origin"  # cache | origin | stale
    failures: list[str] = Field(default_factory=list)  # markets whose calls failed (others are fine)


class AddressPositions(BaseModel):
    address: str
    chains: list[ChainPositionsView]
    errors: dict[int, str] = Field(default_factory=dict)  # chain id -> why nothing could be shown


def positions_cache(client: RedisClient | None, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> CacheAside:
    return CacheAside(client, POSITIONS_NAMESPACE, ttl_seconds=ttl_seconds)


def get_positions(
    address: str,
    *,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    cache: CacheAside,
    chain_ids: Sequence[int] | None = None,
    discovery: DiscoveryCache | None = None,
) -> AddressPositions:
    """Positions of one address on every configured chain (or `chain_ids`). With `discovery`,
    the markets of every registry root are included (discovered once, then cached)."""
    wanted = [c for c in registry.chains if c.chain_id in clients and (chain_ids is None or c.chain_id in chain_ids)]
    views: list[ChainPositionsView] = []
    errors: dict[int, str] = {}
    for chain in wanted:
        client = clients[chain.chain_id]

        def load(chain: Any = chain, client: ChainClient = client) -> dict[str, Any]:
            if discovery is not None and chain.roots:
                result = read_positions_discovered(client, chain, discovery, [address])
            else:
                result = read_positions(client, chain, [address])
            return {
                "block_number": result.block.number,
                "positions": [p.model_dump(mode="json") for p in result.positions],
                "failures": result.failures,
            }

        try:
            cached = cache.get_or_load(f"{chain.chain_id}:{address.lower()}", load)
        except DomainError as exc:
            errors[chain.chain_id] = exc.detail
            continue
        value = cached.value
        views.append(
            ChainPositionsView(
                chain_id=chain.chain_id,
                block_number=value["block_number"],
                positions=[ChainPosition.model_validate(p) for p in value["positions"]],
                failures=value["failures"],
                stale=cached.stale,
                age_seconds=round(cached.age_seconds, 3),
                source=cached.source,
            )
        )
    return AddressPositions(address=address, chains=views, errors=errors)
