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
from decimal import Decimal
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
    return record_snapshot_rows(conn, [(s, observed_at) for s in snapshots])


_UPSERT_MARKETS = """
INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals, metadata)
SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[], %s::text[], %s::text[], %s::smallint[], %s::jsonb[])
ON CONFLICT (chain_id, protocol, market_key) DO UPDATE
   SET asset_symbol = EXCLUDED.asset_symbol, asset_address = EXCLUDED.asset_address,
       asset_decimals = EXCLUDED.asset_decimals, metadata = EXCLUDED.metadata
RETURNING id, chain_id, protocol, market_key
"""

_INSERT_RATES = """
INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy, utilization,
                          total_supplied, total_borrowed, price_usd)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::numeric[], %s::numeric[],
                     %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[])
ON CONFLICT (market_id, block_number) DO NOTHING
RETURNING market_id, block_number
"""

_INSERT_PRICES = """
INSERT INTO asset_prices (chain_id, asset_symbol, observed_at, price_usd, block_number)
SELECT * FROM unnest(%s::integer[], %s::text[], %s::timestamptz[], %s::numeric[], %s::bigint[])
ON CONFLICT DO NOTHING
"""


def _numeric(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def record_snapshot_rows(
    conn: Connection, rows: Sequence[tuple[MarketSnapshot, datetime]]
) -> list[tuple[int, MarketSnapshot]]:
    """`record_snapshots` for snapshots observed at different times (a backfill's group of
    hours): three statements whatever the number of rows. Each market is upserted once, with its
    last snapshot's fields, as one upsert per snapshot in order would leave it. Returns
    (market id, snapshot) of the rate rows actually inserted, in input order."""
    if not rows:
        return []
    latest: dict[tuple[int, str, str], MarketSnapshot] = {}
    for s, _ in rows:
        latest[(s.chain_id, s.protocol, s.market_key)] = s
    markets = list(latest.values())
    ids = {
        (r["chain_id"], r["protocol"], r["market_key"]): int(r["id"])
        for r in conn.execute(
            _UPSERT_MARKETS,
            (
                [s.chain_id for s in markets],
                [s.protocol for s in markets],
                [s.market_key for s in markets],
                [s.asset_symbol for s in markets],
                [s.asset_address for s in markets],
                [s.asset_decimals for s in markets],
                [json.dumps(s.model_dump(mode="json", include={"params"})["params"]) for s in markets],
            ),
        ).fetchall()
    }
    keyed = [(ids[(s.chain_id, s.protocol, s.market_key)], s, at) for s, at in rows]
    written = {
        (int(r["market_id"]), int(r["block_number"]))
        for r in conn.execute(
            _INSERT_RATES,
            (
                [m for m, _, _ in keyed],
                [s.block_number for _, s, _ in keyed],
                [at for _, _, at in keyed],
                [s.supply_apy for _, s, _ in keyed],
                [s.borrow_apy for _, s, _ in keyed],
                [s.utilization for _, s, _ in keyed],
                [_numeric(s.total_supplied) for _, s, _ in keyed],
                [_numeric(s.total_borrowed) for _, s, _ in keyed],
                [s.price_usd for _, s, _ in keyed],
            ),
        ).fetchall()
    }
    inserted: list[tuple[int, MarketSnapshot]] = []
    priced: list[tuple[MarketSnapshot, datetime]] = []
    for market_id, s, at in keyed:
        if (market_id, s.block_number) not in written:
            continue
        written.discard((market_id, s.block_number))  # a repeated row counts once, as it is stored once
        inserted.append((market_id, s))
        if s.price_usd is not None:
            priced.append((s, at))
    if priced:
        conn.execute(
            _INSERT_PRICES,
            (
                [s.chain_id for s, _ in priced],
                [s.asset_symbol for s, _ in priced],
                [at for _, at in priced],
                [s.price_usd for s, _ in priced],
                [s.block_number for s, _ in priced],
            ),
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
