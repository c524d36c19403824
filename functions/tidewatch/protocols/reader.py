"""Read every market, or every position of some addresses, on one chain in 2 JSON-RPC round trips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidewatch.chain.multicall import DEFAULT_CHUNK_SIZE, BlockRef
from tidewatch.chain.plan import ReadPlan, execute
from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.adapters import adapter_for, all_adapters
from tidewatch.protocols.models import ChainPosition, MarketFailure, MarketSnapshot
from tidewatch.protocols.registry import ChainRegistry, Market


def market_plan(chain_id: int, m: Market) -> ReadPlan[MarketSnapshot]:
    (plan,) = adapter_for(m.protocol).market_plans(chain_id, [m])
    return plan


@dataclass(frozen=True)
class ChainMarkets:
    chain_id: int
    block: BlockRef
    snapshots: list[MarketSnapshot]
    failures: list[MarketFailure]


def read_markets(client: ChainClient, chain: ChainRegistry, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChainMarkets:
    """Snapshot every market of `chain` at one block: 2 round trips whatever the market count."""
    plans = [market_plan(chain.chain_id, m) for m in chain.markets]
    block, outcomes = execute(client, chain.multicall3, plans, chunk_size=chunk_size)
    snapshots, failures = [], []
    for m, outcome in zip(chain.markets, outcomes, strict=True):
        if outcome.value is not None:
            snapshots.append(outcome.value)
        else:
            failures.append(
                MarketFailure(
                    chain_id=chain.chain_id, protocol=m.protocol, market_key=m.key, error=outcome.error or "failed"
                )
            )
    return ChainMarkets(chain.chain_id, block, snapshots, failures)


@dataclass(frozen=True)
class PositionsAtBlock:
    """The positions of some addresses on one chain, read at one block (the API's lazily built
    `PositionSource` over these readers is `api.deps.ChainPositions`)."""

    chain_id: int
    block: BlockRef
    positions: list[ChainPosition]
    failures: list[str]


def position_plans(chain: ChainRegistry, addresses: Sequence[str]) -> list[ReadPlan[ChainPosition | None]]:
    plans: list[ReadPlan[ChainPosition | None]] = []
    by_adapter = [(a, a.markets(chain)) for a in all_adapters()]
    for user in addresses:
        for adapter, markets in by_adapter:
            if markets:
                plans.extend(adapter.position_plans(chain.chain_id, markets, user))
    return plans


def read_positions(
    client: ChainClient, chain: ChainRegistry, addresses: Sequence[str], *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> PositionsAtBlock:
    """Every non-empty position of `addresses` on `chain`, at one block, in 2 round trips."""
    plans = position_plans(chain, addresses)
    block, outcomes = execute(client, chain.multicall3, plans, chunk_size=chunk_size)
    positions = [o.value for o in outcomes if o.value is not None]
    failures = [f"{o.key}: {o.error}" for o in outcomes if o.error is not None]
    return PositionsAtBlock(chain.chain_id, block, positions, failures)
