"""The in-memory rule sources (tests/fakes) answer as the Postgres queries: the same rate rows,
prices and snapshots give the same latest markets, price changes and health factors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from tests.fakes.rules import InMemoryRuleSources
from tidewatch.db import Database
from tidewatch.rules.repository import PostgresRuleSources, RuleSourcesRepository
from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


class World(Protocol):
    repository: RuleSourcesRepository

    def add_market(self, chain_id: int, asset: str) -> int: ...

    def add_rate(self, market_id: int, block: int, observed_at: datetime, **values: float | None) -> None: ...

    def add_price(self, chain_id: int, asset: str, observed_at: datetime, price: float) -> None: ...

    def add_portfolio(self) -> int: ...

    def add_snapshot(self, portfolio_id: int, taken_at: datetime, hf: float | None) -> None: ...


class PostgresWorld:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.repository: RuleSourcesRepository = PostgresRuleSources(db)
        with db.connection() as conn:
            row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "ab" * 20,)).fetchone()
        assert row
        self.user_id = int(row["id"])

    def add_market(self, chain_id: int, asset: str) -> int:
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)"
                " VALUES (%s, 'aave-v3', %s, %s, %s, 18) RETURNING id",
                (chain_id, f"{asset}-key", asset, "0x" + "00" * 20),
            ).fetchone()
        assert row
        return int(row["id"])

    def add_rate(self, market_id: int, block: int, observed_at: datetime, **values: float | None) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy, price_usd)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (market_id, block, observed_at, values["supply_apy"], values["borrow_apy"], values["price_usd"]),
            )

    def add_price(self, chain_id: int, asset: str, observed_at: datetime, price: float) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO asset_prices (chain_id, asset_symbol, observed_at, price_usd) VALUES (%s, %s, %s, %s)",
                (chain_id, asset, observed_at, price),
            )

    def add_portfolio(self) -> int:
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO portfolios (user_id, name) VALUES (%s, 'main') RETURNING id", (self.user_id,)
            ).fetchone()
        assert row
        return int(row["id"])

    def add_snapshot(self, portfolio_id: int, taken_at: datetime, hf: float | None) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO position_snapshots (portfolio_id, taken_at, net_worth_usd, min_health_factor, payload)"
                " VALUES (%s, %s, 0, %s, '{}'::jsonb)",
                (portfolio_id, taken_at, hf),
            )


class MemoryWorld:
    def __init__(self) -> None:
        self.store = InMemoryRuleSources()
        self.repository: RuleSourcesRepository = self.store
        self._ids = 500

    def _next(self) -> int:
        self._ids += 1
        return self._ids

    def add_market(self, chain_id: int, asset: str) -> int:
        market_id = self._next()
        self.store.add_market(market_id, chain_id, asset)
        return market_id

    def add_rate(self, market_id: int, block: int, observed_at: datetime, **values: float | None) -> None:
        self.store.add_rate(market_id, block, observed_at, **values)

    def add_price(self, chain_id: int, asset: str, observed_at: datetime, price: float) -> None:
        self.store.add_price(chain_id, asset, observed_at, price)

    def add_portfolio(self) -> int:
        return self._next()

    def add_snapshot(self, portfolio_id: int, taken_at: datetime, hf: float | None) -> None:
        self.store.add_snapshot(portfolio_id, taken_at, hf)


def story(world: World) -> list[Any]:
    """Rows covering latest-by-block, missing values, windows without a usable earlier price and
    snapshots without debt, told by names rather than ids."""
    usdc, weth = world.add_market(1, "USDC"), world.add_market(8453, "WETH")
    world.add_rate(usdc, 200, AT, supply_apy=0.05, borrow_apy=0.07, price_usd=1.0)
    world.add_rate(usdc, 150, AT + timedelta(minutes=5), supply_apy=0.04, borrow_apy=0.06, price_usd=0.99)
    world.add_rate(weth, 90, AT - timedelta(minutes=1), supply_apy=0.01, borrow_apy=None, price_usd=None)
    for ago, price in [(86400, 2000.0), (3600, 2100.0), (1800, 2050.0), (0, 1900.0), (-3600, 5000.0)]:
        world.add_price(1, "WETH", AT - timedelta(seconds=ago), price)
    world.add_price(8453, "NEW", AT - timedelta(hours=1), 0.0)
    world.add_price(8453, "NEW", AT, 1.0)
    names = {usdc: "usdc", weth: "weth"}
    first, second, third, unasked = (world.add_portfolio() for _ in range(4))
    portfolios = {first: "first", second: "second", third: "third", unasked: "unasked"}
    world.add_snapshot(first, AT - timedelta(hours=2), 1.9)
    world.add_snapshot(first, AT - timedelta(hours=1), 1.3)
    world.add_snapshot(second, AT - timedelta(hours=1), None)
    world.add_snapshot(second, AT - timedelta(hours=2), 1.1)
    world.add_snapshot(unasked, AT, 1.01)

    source = PostgresMarketSource(world.repository)
    markets = [(names[m.market_id], *astuple(m)) for m in source.latest_markets()]
    windows = [(1, "WETH", 3600), (1, "WETH", 86400), (1, "WETH", 7 * 86400), (8453, "NEW", 3600), (1, "BTC", 60)]
    changes = sorted((k, round(v, 12)) for k, v in source.price_changes(windows, AT).items())
    factors = SnapshotPositionSource(world.repository).health_factors([first, second, third])
    return [markets, changes, {portfolios[p]: hf for p, hf in factors.items()}]


def astuple(m: Any) -> tuple[Any, ...]:
    return (m.supply_apy, m.borrow_apy, m.chain_id, m.asset_symbol, m.price_usd, m.observed_at)


def test_the_in_memory_rule_sources_answer_as_postgres(db: Database) -> None:
    # Given the same rate rows, prices and snapshots in Postgres and in memory
    # When the tick's sources read both
    real, fake = story(PostgresWorld(db)), story(MemoryWorld())
    # Then they give the same markets, price changes and health factors
    assert fake == real
    assert [name for name, *_ in real[0]] == ["usdc", "weth"]
    assert real[0][0][1] == 0.05  # the highest block, though observed earlier
    assert [key for key, _ in real[1]] == [(1, "WETH", 3600), (1, "WETH", 86400)]
    assert real[2] == {"first": 1.3}
