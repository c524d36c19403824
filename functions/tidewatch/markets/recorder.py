"""Write market snapshots: the one writer of `markets` and `market_rates` (ingest and backfill).

A snapshot read at block B is stored once, keyed by (market, B): ingest ticks, backfills and
re-runs of either write the same row at most once (`ON CONFLICT DO NOTHING`), so a backfilled
hour and an ingested one are indistinguishable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from tidewatch.db import Connection
from tidewatch.protocols.models import MarketSnapshot


def record_snapshots(
    conn: Connection, snapshots: Sequence[MarketSnapshot], observed_at: datetime
) -> list[tuple[int, MarketSnapshot]]:
    """Upsert markets and append rates; returns (market id, snapshot) of rows actually inserted."""
    inserted: list[tuple[int, MarketSnapshot]] = []
    for s in snapshots:
        metadata = json.dumps(s.model_dump(mode="json", include={"params"})["params"])
        row = conn.execute(
            """
            INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals, metadata)
            VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)
            ON CONFLICT (chain_id, protocol, market_key) DO UPDATE
               SET asset_symbol = EXCLUDED.asset_symbol, asset_address = EXCLUDED.asset_address,
                   asset_decimals = EXCLUDED.asset_decimals, metadata = EXCLUDED.metadata
            RETURNING id
            """,
            (s.chain_id, s.protocol, s.market_key, s.asset_symbol, s.asset_address, s.asset_decimals, metadata),
        ).fetchone()
        assert row is not None  # RETURNING always yields the row
        market_id = int(row["id"])
        written = conn.execute(
            """
            INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy, utilization,
                                      total_supplied, total_borrowed, price_usd)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (market_id, block_number) DO NOTHING
            RETURNING market_id
            """,
            (
                market_id,
                s.block_number,
                observed_at,
                s.supply_apy,
                s.borrow_apy,
                s.utilization,
                s.total_supplied,
                s.total_borrowed,
                s.price_usd,
            ),
        ).fetchone()
        if written is None:
            continue
        inserted.append((market_id, s))
        if s.price_usd is not None:
            conn.execute(
                """
                INSERT INTO asset_prices (chain_id, asset_symbol, observed_at, price_usd, block_number)
                VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
                """,
                (s.chain_id, s.asset_symbol, observed_at, s.price_usd, s.block_number),
            )
    return inserted
