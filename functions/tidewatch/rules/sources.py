"""Postgres-backed snapshot sources (the ingest time series and stored position snapshots).

Each answers for all rules in one read of a `RuleSourcesRepository` (`tidewatch.rules.repository`);
a `Database` given instead is wrapped in the Postgres adapter, whose reads are one query each. The
lead may swap the market source for the ingest Redis hot cache and the position source for live
chain reads; the interfaces stay the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tidewatch.db import Database
from tidewatch.rules.repository import RuleSourcesRepository, rule_sources
from tidewatch.rules.snapshot import MarketState, PriceWindow


class PostgresMarketSource:
    """Each market's latest state, and price changes over windows, from the stored time series."""

    def __init__(self, sources: RuleSourcesRepository | Database) -> None:
        self._sources = rule_sources(sources)

    def latest_markets(self) -> Sequence[MarketState]:
        with self._sources.session() as records:
            rows = records.latest_market_rows()
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
        with self._sources.session() as records:
            rows = records.price_window_rows(
                [w[0] for w in windows], [w[1] for w in windows], [w[2] for w in windows], at
            )
        return {
            (r["chain_id"], r["asset"], r["window_seconds"]): r["now_price"] / r["then_price"] - 1.0
            for r in rows
            if r["then_price"]
        }


class SnapshotPositionSource:
    """Lowest health factor per portfolio from its latest stored position snapshot."""

    def __init__(self, sources: RuleSourcesRepository | Database) -> None:
        self._sources = rule_sources(sources)

    def health_factors(self, portfolio_ids: Sequence[int]) -> Mapping[int, float]:
        with self._sources.session() as records:
            rows = records.latest_health_factor_rows(portfolio_ids)
        return {r["portfolio_id"]: r["hf"] for r in rows if r["hf"] is not None}
