"""Latest rates and downsampled history over ingested rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tidewatch.db import Database
from tidewatch.protocols.market_queries import latest_markets, rate_history

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _seed(db: Database) -> int:
    with db.transaction() as conn:
        row = conn.execute(
            """INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)
               VALUES (1, 'aave-v3', '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 'USDC',
                       '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 6) RETURNING id"""
        ).fetchone()
        assert row is not None
        for minute in range(120):
            conn.execute(
                """INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy, utilization)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    row["id"],
                    1000 + minute,
                    T0 + timedelta(minutes=minute),
                    Decimal(minute) / 1000,
                    Decimal("0.05"),
                    Decimal("0.8"),
                ),
            )
        return int(row["id"])


def test_latest_markets_and_hourly_history(db: Database) -> None:
    # Given two hours of per-minute rates
    market_id = _seed(db)
    with db.connection() as conn:
        # When listing markets
        markets = latest_markets(conn, chain_id=1)
        # Then the latest row is attached
        assert len(markets) == 1
        assert markets[0]["block_number"] == 1119
        assert markets[0]["supply_apy"] == Decimal("0.119")
        # When asking for hourly history
        history = rate_history(conn, market_id, start=T0, end=T0 + timedelta(hours=2), bucket_seconds=3600)
    # Then two buckets with averages and sample counts
    assert [h["samples"] for h in history] == [60, 60]
    assert history[0]["supply_apy"] == Decimal("0.0295")
    assert history[1]["last_block"] == 1119
