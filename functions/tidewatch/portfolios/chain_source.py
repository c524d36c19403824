"""The real `PositionSource`: positions read from chain through the lean protocol readers.

For each address and chain, `tidewatch.protocols.positions.get_positions` reads Aave v3, Compound
v3 and EigenLayer in one Multicall round (cache-aside 30 s, stale-if-error). This adapter turns the
protocol view into the portfolio view: one position per (market, asset) with exact base units,
USD values, the market's latest APYs (from ingest's history) and the account's health factor,
plus one freshness record per (chain, protocol). No web3 import: the api function stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tidewatch.cache import CacheAside
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.markets import repository as markets_repository
from tidewatch.portfolios.positions import Position, PositionReading, SourceStatus
from tidewatch.protocols.discovery import DiscoveryCache
from tidewatch.protocols.models import ChainPosition, TokenAmount
from tidewatch.protocols.positions import get_positions
from tidewatch.protocols.registry import Registry
from tidewatch.protocols.slugs import PROTOCOL_SLUGS

# (chain id, protocol, asset address lower-cased) → (supply APY, borrow APY)
ApyTable = dict[tuple[int, str, str], tuple[Decimal | None, Decimal | None]]


def latest_apys(database: Database, chain_ids: Sequence[int]) -> ApyTable:
    with database.connection() as conn:
        rows = markets_repository.latest_apys(conn, chain_ids)
    return {(r["chain_id"], r["protocol"], r["asset"]): (r["supply_apy"], r["borrow_apy"]) for r in rows}


def _usd(token: TokenAmount) -> Decimal:
    value = token.value_usd
    return Decimal(0) if value is None else value.quantize(Decimal("0.01"))


@dataclass
class _AssetRow:
    symbol: str
    decimals: int
    supplied: int = 0
    borrowed: int = 0
    supplied_usd: Decimal = Decimal(0)
    borrowed_usd: Decimal = Decimal(0)
    liquidation_threshold: Decimal | None = None
    withdrawing: int = 0
    unpriced: bool = False


def _rows(position: ChainPosition, apys: ApyTable) -> list[Position]:
    """One row per asset: what is supplied (earning or collateral) and what is borrowed."""
    by_asset: dict[str, _AssetRow] = {}

    def slot(token: TokenAmount) -> _AssetRow:
        return by_asset.setdefault(token.address.lower(), _AssetRow(token.symbol, token.decimals))

    for token in [*position.supplied, *position.collateral]:
        row = slot(token)
        row.supplied += token.amount
        row.supplied_usd += _usd(token)
        row.liquidation_threshold = token.liquidation_threshold
        row.unpriced |= token.price_usd is None and token.amount > 0
    for token in position.borrowed:
        row = slot(token)
        row.borrowed += token.amount
        row.borrowed_usd += _usd(token)
        row.unpriced |= token.price_usd is None and token.amount > 0
    for token in position.withdrawing:
        slot(token).withdrawing += token.amount
    out = []
    for asset, row in by_asset.items():
        supply_apy, borrow_apy = apys.get((position.chain_id, position.protocol, asset), (None, None))
        out.append(
            Position(
                chain_id=position.chain_id,
                protocol=position.protocol,
                address=position.address,
                market=position.market_key,
                asset_symbol=row.symbol,
                asset_decimals=row.decimals,
                supplied=row.supplied,
                borrowed=row.borrowed,
                supplied_usd=row.supplied_usd,
                borrowed_usd=row.borrowed_usd,
                supply_apy=supply_apy if row.supplied else None,
                borrow_apy=borrow_apy if row.borrowed else None,
                health_factor=position.health_factor,
                liquidation_threshold=row.liquidation_threshold,
                withdrawing=row.withdrawing,
                warnings=[*position.warnings, *([f"no USD price for {row.symbol}"] if row.unpriced else [])],
            )
        )
    return out


class ChainPositionSource:
    def __init__(
        self,
        registry: Registry,
        clients: Mapping[int, ChainClient],
        cache: CacheAside,
        database: Database,
        *,
        clock: Callable[[], float],
        discovery: DiscoveryCache | None = None,
    ) -> None:
        self._discovery = discovery
        self._registry = registry
        self._clients = clients
        self._cache = cache
        self._db = database
        self._clock = clock

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        wanted = [c for c in chain_ids if c in self._clients]
        positions: list[Position] = []
        status: dict[tuple[int, str], SourceStatus] = {}
        apys = latest_apys(self._db, wanted) if wanted else {}
        now = datetime.fromtimestamp(self._clock(), UTC)
        for address in addresses:
            found = get_positions(
                address,
                registry=self._registry,
                clients=self._clients,
                cache=self._cache,
                chain_ids=wanted,
                discovery=self._discovery,
            )
            for view in found.chains:
                for position in view.positions:
                    positions.extend(_rows(position, apys))
                failed = {f.split(":", 1)[0] for f in view.failures}
                for protocol in PROTOCOL_SLUGS:
                    key = (view.chain_id, protocol)
                    previous = status.get(key)
                    if previous is not None and previous.stale >= view.stale:
                        continue
                    status[key] = SourceStatus(
                        chain_id=view.chain_id,
                        protocol=protocol,
                        as_of=now - timedelta(seconds=view.age_seconds),
                        block_number=view.block_number,
                        stale=view.stale,
                        error=f"some {protocol} reads failed" if protocol in failed else None,
                    )
            for chain_id, error in found.errors.items():
                for protocol in PROTOCOL_SLUGS:
                    status[(chain_id, protocol)] = SourceStatus(
                        chain_id=chain_id,
                        protocol=protocol,
                        as_of=now,
                        stale=True,
                        error=error,
                    )
        return PositionReading(
            positions=positions, sources=sorted(status.values(), key=lambda s: (s.chain_id, s.protocol))
        )
