"""Read side of the ingested market data (for the API): latest rates per market and rate history.

Plain SQL over `markets` / `market_rates` (tidewatch.db connections with dict rows). History is
downsampled in Postgres with `date_bin` (averages per bucket, last block of the bucket).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tidewatch.db import Connection

MAX_POINTS = 2_000


def latest_markets(
    conn: Connection, *, chain_id: int | None = None, protocol: str | None = None
) -> list[dict[str, Any]]:
    """Every market with its latest recorded rates (markets never read yet have null rates)."""
    return conn.execute(
        """
        SELECT m.id, m.chain_id, m.protocol, m.market_key, m.asset_symbol, m.asset_address, m.asset_decimals,
               m.metadata, r.block_number, r.observed_at, r.supply_apy, r.borrow_apy, r.utilization,
               r.total_supplied, r.total_borrowed, r.price_usd
          FROM markets m
          LEFT JOIN LATERAL (
                SELECT * FROM market_rates x WHERE x.market_id = m.id ORDER BY x.observed_at DESC, x.block_number DESC LIMIT 1
          ) r ON true
         WHERE (%(chain)s::int IS NULL OR m.chain_id = %(chain)s::int)
           AND (%(protocol)s::text IS NULL OR m.protocol = %(protocol)s::text)
         ORDER BY m.chain_id, m.protocol, m.asset_symbol, m.id
        """,
        {"chain": chain_id, "protocol": protocol},
    ).fetchall()


def rate_history(
    conn: Connection, market_id: int, *, start: datetime, end: datetime, bucket_seconds: int | None = None
) -> list[dict[str, Any]]:
    """Rates of one market in [start, end), averaged per bucket (auto-sized to ≤ 2,000 points)."""
    span = max(1.0, (end - start).total_seconds())
    bucket = max(bucket_seconds or 1, int(span // MAX_POINTS) + 1)
    return conn.execute(
        """
        SELECT date_bin(make_interval(secs => %(bucket)s), observed_at, %(start)s) AS bucket_start,
               avg(supply_apy) AS supply_apy, avg(borrow_apy) AS borrow_apy, avg(utilization) AS utilization,
               avg(price_usd) AS price_usd, max(block_number) AS last_block, count(*) AS samples
          FROM market_rates
         WHERE market_id = %(market)s AND observed_at >= %(start)s AND observed_at < %(end)s
         GROUP BY 1
         ORDER BY 1
        """,
        {"bucket": bucket, "start": start, "end": end, "market": market_id},
    ).fetchall()
