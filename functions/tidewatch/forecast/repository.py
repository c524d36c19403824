"""The forecast models' data access: rate and price history (market_rates, asset_prices) and the
model registry (model_artifacts). Training reads history and records artifacts; serving reads the
newest approved artifact and recent prices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from tidewatch.db import Database
from tidewatch.forecast.apy_model import RateColumns, market_key
from tidewatch.forecast.artifact import Artifact
from tidewatch.forecast.assets import canonical
from tidewatch.forecast.history import HourlyHistory, HourlySeries, prices_in_usd, rate_history_from_rows, to_hourly


def history_from_database(database: Database, *, since: datetime) -> HourlyHistory:
    """Rates per market and prices per symbol since `since` (chains merged by symbol)."""
    with database.connection() as conn:
        rate_rows = conn.execute(
            """
            SELECT m.id, m.chain_id, m.protocol, m.asset_symbol, m.asset_decimals,
                   extract(epoch FROM r.observed_at)::float8 AS ts, r.supply_apy, r.borrow_apy, r.utilization,
                   r.total_supplied, r.total_borrowed, r.price_usd
            FROM market_rates r JOIN markets m ON m.id = r.market_id
            WHERE r.observed_at >= %s ORDER BY m.id, r.observed_at
            """,
            (since,),
        ).fetchall()
    by_market: dict[int, list[dict[str, object]]] = {}
    for row in rate_rows:
        by_market.setdefault(int(row["id"]), []).append(row)
    rates = []
    for rows in by_market.values():
        first = rows[0]
        # The serving key (protocol:chain:ASSET): per-market kinks and persistence decisions match it.
        name = market_key(str(first["protocol"]), int(first["chain_id"]), str(first["asset_symbol"]))  # type: ignore[call-overload]
        scale = 10.0 ** int(first["asset_decimals"])  # type: ignore[call-overload]

        def usd(amount: object, price: object, scale: float = scale) -> float:
            # Without a price the filter on deposits cannot apply: count the market as live.
            if amount is None:
                return float("nan")
            return float(amount) / scale * float(price) if price is not None else float("inf")  # type: ignore[arg-type]

        rates.append(
            rate_history_from_rows(
                name,
                (float(r["ts"]) for r in rows),  # type: ignore[arg-type]
                (np.nan if r["supply_apy"] is None else float(r["supply_apy"]) for r in rows),  # type: ignore[arg-type]
                (np.nan if r["borrow_apy"] is None else float(r["borrow_apy"]) for r in rows),  # type: ignore[arg-type]
                (usd(r["total_supplied"], r["price_usd"]) for r in rows),
                (usd(r["total_borrowed"], r["price_usd"]) for r in rows),
                (np.nan if r["utilization"] is None else float(r["utilization"]) for r in rows),  # type: ignore[arg-type]
            )
        )
    prices = history_from_database_prices(database, since=since)
    return HourlyHistory(prices=prices, rates=rates, source="postgres:market_rates+asset_prices")


def recent_prices(database: Database, *, hours: int, now: datetime) -> dict[str, HourlySeries]:
    """Hourly USD prices of the last `hours` from asset_prices, for serving-time volatility."""
    return history_from_database_prices(database, since=now - timedelta(hours=hours))


def history_from_database_prices(database: Database, *, since: datetime) -> dict[str, HourlySeries]:
    with database.connection() as conn:
        rows = conn.execute(
            """
            SELECT asset_symbol, extract(epoch FROM observed_at)::float8 AS ts, price_usd FROM asset_prices
            WHERE observed_at >= %s ORDER BY asset_symbol, observed_at
            """,
            (since,),
        ).fetchall()
    grouped: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        ts, px = grouped.setdefault(canonical(str(row["asset_symbol"])), ([], []))
        ts.append(float(row["ts"]))
        px.append(float(row["price_usd"]))
    return prices_in_usd({sym: to_hourly(ts, px) for sym, (ts, px) in grouped.items()})


def record_artifact(database: Database, artifact: Artifact, uri: str, *, approved: bool) -> None:
    with database.connection() as conn:
        conn.execute(
            """
            INSERT INTO model_artifacts (kind, version, uri, approved, card)
            VALUES (%s, %s, %s, %s, %s::jsonb)
            ON CONFLICT (kind, version) DO UPDATE SET uri = EXCLUDED.uri, approved = EXCLUDED.approved, card = EXCLUDED.card
            """,
            (artifact.kind, artifact.card.version, uri, approved, json.dumps(artifact.card.model_dump(mode="json"))),
        )


def newest_approved_uri(database: Database, kind: str) -> str | None:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT uri FROM model_artifacts WHERE kind = %s AND approved ORDER BY created_at DESC, id DESC LIMIT 1",
            (kind,),
        ).fetchone()
    return None if row is None else str(row["uri"])


def stored_rate_history(
    database: Database, market_ids: Sequence[int], *, since: datetime
) -> tuple[dict[int, RateColumns], dict[int, str]]:
    """Each market's stored rates since `since` (oldest first) as the columns a forecast reads
    (one array per field, built in one pass over the rows, no object per reading), and each
    market's key (`protocol:chain:ASSET`) for its kink and its persistence decision.

    Deposits are total supplied / 10^decimals × price (NaN without both, or when negative);
    utilisation is capped at 1.5, like a caller-given `RateObservation`."""
    if not market_ids:
        return {}, {}
    from psycopg.rows import tuple_row  # psycopg loads with the first pool (tidewatch.db)

    with database.connection() as conn:
        rows = (
            conn.cursor(row_factory=tuple_row)
            .execute(
                """
                SELECT r.market_id, extract(epoch FROM r.observed_at)::float8, r.supply_apy::float8,
                       r.borrow_apy::float8, r.utilization::float8, r.total_supplied::float8,
                       r.price_usd::float8, m.asset_decimals
                FROM market_rates r JOIN markets m ON m.id = r.market_id
                WHERE r.market_id = ANY(%s) AND r.observed_at >= %s ORDER BY r.market_id, r.observed_at
                """,
                (list(market_ids), since),
            )
            .fetchall()
        )
        key_rows = conn.execute(
            "SELECT id, protocol, chain_id, asset_symbol FROM markets WHERE id = ANY(%s)", (list(market_ids),)
        ).fetchall()
    out: dict[int, RateColumns] = {}
    if rows:
        ids, seconds, supply, borrow, utilization, supplied, price, decimals = (
            np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)
        )
        with np.errstate(invalid="ignore"):
            deposits = supplied / 10.0**decimals * price
            deposits[deposits < 0] = np.nan
            utilization = np.minimum(utilization, 1.5)  # NaN stays NaN
        cuts = np.flatnonzero(np.diff(ids)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [ids.size]]), strict=True):
            out[int(ids[lo])] = RateColumns(
                seconds[lo:hi], supply[lo:hi], borrow[lo:hi], utilization[lo:hi], deposits[lo:hi]
            )
    keys = {int(r["id"]): market_key(str(r["protocol"]), int(r["chain_id"]), str(r["asset_symbol"])) for r in key_rows}
    return out, keys
