"""Read-only market catalogue: the markets ingest records, each with its latest observed rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from tidewatch.db import Database

ProtocolName = Literal["aave-v3", "compound-v3", "eigenlayer"]


class MarketRate(BaseModel):
    block_number: int
    observed_at: datetime
    supply_apy: Decimal | None = None
    borrow_apy: Decimal | None = None
    utilization: Decimal | None = None
    total_supplied: int | None = None
    total_borrowed: int | None = None
    price_usd: Decimal | None = None


class Market(BaseModel):
    id: int
    chain_id: int
    protocol: ProtocolName
    market_key: str
    asset_symbol: str
    asset_address: str
    asset_decimals: int
    latest: MarketRate | None = None


_SELECT = """
SELECT m.id, m.chain_id, m.protocol, m.market_key, m.asset_symbol, m.asset_address, m.asset_decimals,
       r.block_number, r.observed_at, r.supply_apy, r.borrow_apy, r.utilization,
       r.total_supplied, r.total_borrowed, r.price_usd
FROM markets m
LEFT JOIN LATERAL (
  SELECT * FROM market_rates mr WHERE mr.market_id = m.id ORDER BY mr.observed_at DESC LIMIT 1
) r ON true
"""


def _market(row: dict[str, Any]) -> Market:
    latest = None
    if row["block_number"] is not None:
        latest = MarketRate(
            block_number=row["block_number"],
            observed_at=row["observed_at"],
            supply_apy=row["supply_apy"],
            borrow_apy=row["borrow_apy"],
            utilization=row["utilization"],
            total_supplied=int(row["total_supplied"]) if row["total_supplied"] is not None else None,
            total_borrowed=int(row["total_borrowed"]) if row["total_borrowed"] is not None else None,
            price_usd=row["price_usd"],
        )
    return Market(
        id=row["id"],
        chain_id=row["chain_id"],
        protocol=row["protocol"],
        market_key=row["market_key"],
        asset_symbol=row["asset_symbol"],
        asset_address=row["asset_address"],
        asset_decimals=row["asset_decimals"],
        latest=latest,
    )


class MarketCatalog:
    def __init__(self, database: Database) -> None:
        self._db = database

    def page(self, *, chain_id: int | None, protocol: str | None, after_id: int | None, limit: int) -> list[Market]:
        with self._db.connection() as conn:
            rows = conn.execute(
                _SELECT
                + """
                WHERE m.id > %s AND (%s::int IS NULL OR m.chain_id = %s) AND (%s::text IS NULL OR m.protocol = %s)
                ORDER BY m.id LIMIT %s
                """,
                (after_id or 0, chain_id, chain_id, protocol, protocol, limit),
            ).fetchall()
        return [_market(r) for r in rows]

    def get(self, market_id: int) -> Market | None:
        with self._db.connection() as conn:
            row = conn.execute(_SELECT + " WHERE m.id = %s", (market_id,)).fetchone()
        return _market(row) if row else None
