"""The tick's stored-data sources over the in-memory rows (tests/fakes/rules.py): each market's
latest state, price changes over windows, each portfolio's latest health factor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.rules import InMemoryRuleSources
from tidewatch.rules.snapshot import MarketState
from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)
HOUR = 3600
DAY = 86400


def test_each_market_is_read_at_its_latest_block_with_its_chain_and_asset() -> None:
    # Given two markets, the first with an older row stored after a newer one, the second without a price
    rows = InMemoryRuleSources()
    rows.add_market(7, 1, "USDC")
    rows.add_market(3, 8453, "WETH")
    rows.add_rate(7, 200, AT, supply_apy=0.05, borrow_apy=0.07, price_usd=1.0)
    rows.add_rate(7, 150, AT - timedelta(minutes=5), supply_apy=0.04, borrow_apy=0.06, price_usd=0.99)
    rows.add_rate(3, 90, AT - timedelta(minutes=1), supply_apy=0.01, borrow_apy=None, price_usd=None)

    # When the market source reads the latest markets
    markets = PostgresMarketSource(rows).latest_markets()

    # Then each market is at its highest block, in market order, in one read
    assert markets == [
        MarketState(3, 0.01, None, 8453, "WETH", None, AT - timedelta(minutes=1)),
        MarketState(7, 0.05, 0.07, 1, "USDC", 1.0, AT),
    ]
    assert rows.reads == 1


def test_a_price_change_is_the_latest_price_over_the_one_a_window_earlier() -> None:
    # Given WETH on Ethereum at 2000 a day ago, 2100 an hour ago and 1900 now (and a later price after `at`)
    rows = InMemoryRuleSources()
    for ago, price in [(DAY, 2000.0), (HOUR, 2100.0), (0, 1900.0), (-HOUR, 5000.0)]:
        rows.add_price(1, "WETH", AT - timedelta(seconds=ago), price)

    # When the changes over an hour and a day are asked at `at`
    changes = PostgresMarketSource(rows).price_changes([(1, "WETH", HOUR), (1, "WETH", DAY)], AT)

    # Then each compares the price at `at` with the latest at or before one window earlier
    assert changes[(1, "WETH", HOUR)] == pytest.approx(1900 / 2100 - 1)
    assert changes[(1, "WETH", DAY)] == pytest.approx(1900 / 2000 - 1)


def test_a_window_without_an_earlier_or_a_nonzero_earlier_price_has_no_change() -> None:
    # Given prices on Base since an hour ago only, and an asset whose earlier price was zero
    rows = InMemoryRuleSources()
    rows.add_price(8453, "cbETH", AT - timedelta(seconds=HOUR), 2500.0)
    rows.add_price(8453, "cbETH", AT, 2600.0)
    rows.add_price(8453, "NEW", AT - timedelta(seconds=HOUR), 0.0)
    rows.add_price(8453, "NEW", AT, 1.0)
    windows = [(8453, "cbETH", DAY), (8453, "cbETH", HOUR), (8453, "NEW", HOUR), (1, "cbETH", HOUR)]

    # When the changes are asked
    changes = PostgresMarketSource(rows).price_changes(windows, AT)

    # Then only the window with a usable earlier price has a change
    assert list(changes) == [(8453, "cbETH", HOUR)]
    assert changes[(8453, "cbETH", HOUR)] == pytest.approx(0.04)


def test_no_windows_reads_nothing() -> None:
    # Given a source over stored prices
    rows = InMemoryRuleSources()
    rows.add_price(1, "WETH", AT, 2000.0)

    # When no rule asks for a price window
    changes = PostgresMarketSource(rows).price_changes([], AT)

    # Then there is no change and no read
    assert changes == {}
    assert rows.reads == 0


def test_a_portfolio_s_health_factor_is_its_latest_snapshot_s_and_none_without_debt() -> None:
    # Given portfolio 1 at HF 1.9 then 1.3, portfolio 2 at 1.1 then without debt, and portfolio 3 not asked
    rows = InMemoryRuleSources()
    rows.add_snapshot(1, AT - timedelta(hours=2), 1.9)
    rows.add_snapshot(1, AT - timedelta(hours=1), 1.3)
    rows.add_snapshot(2, AT - timedelta(hours=1), None)
    rows.add_snapshot(2, AT - timedelta(hours=2), 1.1)
    rows.add_snapshot(3, AT, 1.01)

    # When the position source reads portfolios 1, 2 and 4 (no snapshot)
    factors = SnapshotPositionSource(rows).health_factors([1, 2, 4])

    # Then only portfolio 1 has a health factor, from its latest snapshot; an old one never stands in
    assert factors == {1: 1.3}
    assert rows.reads == 1
