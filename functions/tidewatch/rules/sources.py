"""Postgres-backed snapshot sources (the ingest time series and stored position snapshots).

Each answers for all rules in one query. The lead may swap the market source for the ingest Redis
hot cache and the position source for live chain reads; the interfaces stay the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tidewatch.db import Database
from tidewatch.rules.snapshot import MarketState, PriceWindow


class PostgresMarketSource:
    def __init__(self, database: Database) -> None:
        self._db = database

    def latest_markets(self) -> Sequence[MarketState]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (r.market_id) r.market_id, r.supply_apy::float8 AS supply_apy, "
                "r.borrow_apy::float8 AS borrow_apy, r.price_usd::float8 AS price_usd, r.observed_at, "
                "m.chain_id, m.asset_symbol FROM market_rates r JOIN markets m ON m.id = r.market_id "
                "ORDER BY r.market_id, r.block_number DESC"
            ).fetchall()
        return [
            MarketState(
                market_id=r["market_id"],
                supply_apy=r["supply_apy"],
                borrow_apy=r["borrow_apy"],
                chain_id=r["chain_id"],
                asset_symbol=r["asset_symbol"],
                price_usd=r["price_usd"],
                observed_at=r["observed_at"],
            )
            for r in rows
        ]

    def price_changes(self, windows: Sequence[PriceWindow], at: datetime) -> Mapping[PriceWindow, float]:
        if not windows:
            return {}
        with self._db.connection() as conn:
            rows = conn.execute(
                """
                SELECT w.chain_id, w.asset, w.window_seconds, now_p.price_usd::float8 AS now_price,
                       then_p.price_usd::float8 AS then_price
                FROM unnest(%s::int[], %s::text[], %s::int[]) AS w(chain_id, asset, window_seconds)
                CROSS JOIN LATERAL (
                    SELECT price_usd FROM asset_prices
                    WHERE chain_id = w.chain_id AND asset_symbol = w.asset AND observed_at <= %s
                    ORDER BY observed_at DESC LIMIT 1) now_p
                CROSS JOIN LATERAL (
                    SELECT price_usd FROM asset_prices
                    WHERE chain_id = w.chain_id AND asset_symbol = w.asset
                      AND observed_at <= %s - make_interval(secs => w.window_seconds)
                    ORDER BY observed_at DESC LIMIT 1) then_p
                """,
                ([w[0] for w in windows], [w[1] for w in windows], [w[2] for w in windows], at, at),
            ).fetchall()
        return {
            (r["chain_id"], r["asset"], r["window_seconds"]): r["now_price"] / r["then_price"] - 1.0
            for r in rows
            if r["then_price"]
        }


class SnapshotPositionSource:
    """Lowest health factor per portfolio from its latest stored position snapshot."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def health_factors(self, portfolio_ids: Sequence[int]) -> Mapping[int, float]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (portfolio_id) portfolio_id, min_health_factor::float8 AS hf "
                "FROM position_snapshots WHERE portfolio_id = ANY(%s) ORDER BY portfolio_id, taken_at DESC",
                (list(portfolio_ids),),
            ).fetchall()
        return {r["portfolio_id"]: r["hf"] for r in rows if r["hf"] is not None}
