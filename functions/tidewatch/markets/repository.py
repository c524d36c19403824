"""SQL for markets: one query per view, each served by an index (see 0001_initial.sql), and the
one writer of `markets`, `market_rates` and `asset_prices` (ingest and backfill).

A snapshot read at block B is stored once, keyed by (market, B): ingest ticks, backfills and
re-runs of either write the same row at most once (`ON CONFLICT DO NOTHING`), so a backfilled
hour and an ingested one are indistinguishable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidewatch.db import Connection

if TYPE_CHECKING:
    from tidewatch.protocols.models import MarketSnapshot

_LATEST = """
SELECT m.id, m.chain_id, m.protocol, m.market_key, m.asset_symbol, m.asset_address, m.asset_decimals,
       r.supply_apy, r.borrow_apy, r.utilization, r.total_supplied, r.total_borrowed, r.price_usd,
       r.block_number, r.observed_at
FROM markets m
LEFT JOIN LATERAL (
    SELECT * FROM market_rates mr WHERE mr.market_id = m.id ORDER BY mr.block_number DESC LIMIT 1
) r ON true
"""


def latest(
    conn: Connection, *, chain_id: int | None = None, protocol: str | None = None, asset: str | None = None
) -> list[dict[str, Any]]:
    clauses: list[str] = []
    params: list[int | str] = []
    if chain_id is not None:
        clauses.append("m.chain_id = %s")
        params.append(chain_id)
    if protocol is not None:
        clauses.append("m.protocol = %s")
        params.append(protocol)
    if asset is not None:
        clauses.append("upper(m.asset_symbol) = upper(%s)")
        params.append(asset)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return conn.execute(_LATEST + where + " ORDER BY m.chain_id, m.protocol, m.asset_symbol, m.id", params).fetchall()


def one(conn: Connection, market_id: int) -> dict[str, Any] | None:
    return conn.execute(_LATEST + " WHERE m.id = %s", (market_id,)).fetchone()


def history(
    conn: Connection, market_id: int, start: datetime, end: datetime, bucket_seconds: int, decimals: int = 0
) -> list[dict[str, Any]]:
    """Averages per time bucket (date_bin), oldest first; served by market_rates_time_idx."""
    return conn.execute(
        """
        SELECT date_bin(make_interval(secs => %(step)s), observed_at, %(start)s) AS t,
               avg(supply_apy) AS supply_apy, avg(borrow_apy) AS borrow_apy,
               avg(utilization) AS utilization, avg(price_usd) AS price_usd,
               avg(total_supplied * price_usd / power(10::numeric, %(decimals)s)) AS tvl_usd, count(*) AS samples
        FROM market_rates
        WHERE market_id = %(id)s AND observed_at >= %(start)s AND observed_at < %(end)s
        GROUP BY 1 ORDER BY 1
        """,
        {"id": market_id, "start": start, "end": end, "step": bucket_seconds, "decimals": decimals},
    ).fetchall()


def first_reading(conn: Connection, market_id: int) -> datetime | None:
    row = conn.execute("SELECT min(observed_at) AS t FROM market_rates WHERE market_id = %s", (market_id,)).fetchone()
    return row["t"] if row else None


def unfillable_hours(conn: Connection, chain_id: int, start: datetime, end: datetime) -> list[datetime]:
    """Hours a backfill of the chain's markets marked as impossible to fill."""
    rows = conn.execute(
        "SELECT bucket_start FROM backfill_buckets WHERE chain_id = %s AND scope = 'markets'"
        " AND status = 'unfillable' AND bucket_start >= %s AND bucket_start < %s",
        (chain_id, start, end),
    ).fetchall()
    return [r["bucket_start"] for r in rows]


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


_LATEST_APYS = """
SELECT m.chain_id, m.protocol, lower(m.asset_address) AS asset, r.supply_apy, r.borrow_apy
FROM markets m
JOIN LATERAL (
    SELECT supply_apy, borrow_apy FROM market_rates mr WHERE mr.market_id = m.id ORDER BY mr.block_number DESC LIMIT 1
) r ON true
WHERE m.chain_id = ANY(%s)
"""


def latest_apys(conn: Connection, chain_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Each market's latest supply and borrow APY on the chains: chain_id, protocol, asset (lower), APYs."""
    return conn.execute(_LATEST_APYS, (list(chain_ids),)).fetchall()


def market_metadata(conn: Connection, chain_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The markets of the chains with their stored protocol parameters (`metadata`)."""
    return conn.execute(
        "SELECT chain_id, protocol, market_key, asset_symbol, metadata FROM markets WHERE chain_id = ANY(%s)",
        (list(chain_ids),),
    ).fetchall()
