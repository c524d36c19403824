"""Backfill bookkeeping in PostgreSQL: which buckets are done, and each (chain, scope)'s job."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from tidewatch.db import Connection, Database, UnitOfWork

MARKETS = "markets"


def positions_scope(address: str) -> str:
    return f"positions:{address.lower()}"


def done_buckets(conn: Connection, chain_id: int, scope: str, start: datetime, end: datetime) -> set[datetime]:
    rows = conn.execute(
        "SELECT bucket_start FROM backfill_buckets WHERE chain_id = %s AND scope = %s"
        " AND bucket_start >= %s AND bucket_start < %s",
        (chain_id, scope, start, end),
    ).fetchall()
    return {r["bucket_start"] for r in rows}


MarketKey = tuple[str, str]  # (protocol, market key lower-cased): a market of one chain


def stored_markets(
    conn: Connection, chain_id: int, start: datetime, end: datetime, step: int
) -> dict[datetime, set[MarketKey]]:
    """Per bucket, the markets of the chain that ingest (or an earlier backfill) stored a row for."""
    rows = conn.execute(
        """
        SELECT DISTINCT date_bin(make_interval(secs => %(step)s), r.observed_at, %(start)s) AS t,
               m.protocol, lower(m.market_key) AS market_key
        FROM market_rates r JOIN markets m ON m.id = r.market_id
        WHERE m.chain_id = %(chain)s AND r.observed_at >= %(start)s AND r.observed_at < %(end)s
        """,
        {"chain": chain_id, "start": start, "end": end, "step": step},
    ).fetchall()
    out: dict[datetime, set[MarketKey]] = {}
    for r in rows:
        out.setdefault(r["t"], set()).add((r["protocol"], r["market_key"]))
    return out


def mark(
    conn: Connection,
    chain_id: int,
    scope: str,
    bucket: datetime,
    *,
    block: int | None,
    status: str,
    rows: int = 0,
    detail: str | None = None,
) -> None:
    conn.execute(
        """
        INSERT INTO backfill_buckets (chain_id, scope, bucket_start, block_number, status, detail, rows_written)
        VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
        """,
        (chain_id, scope, bucket, block, status, detail, rows),
    )


class Mark(NamedTuple):
    """One bucket's progress row."""

    bucket: datetime
    block: int | None
    status: str
    rows: int = 0
    detail: str | None = None


def mark_many(conn: Connection, chain_id: int, scope: str, marks: Sequence[Mark]) -> None:
    """`mark` for several buckets in one round trip (a pipelined executemany)."""
    if not marks:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            """
            INSERT INTO backfill_buckets (chain_id, scope, bucket_start, block_number, status, detail, rows_written)
            VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            [(chain_id, scope, m.bucket, m.block, m.status, m.detail, m.rows) for m in marks],
        )


def start_job(
    conn: Connection, chain_id: int, scope: str, start: datetime, end: datetime, step: int, total: int, done: int
) -> None:
    conn.execute(
        """
        INSERT INTO backfill_jobs (chain_id, scope, window_start, window_end, step_seconds, status,
                                   buckets_total, buckets_done)
        VALUES (%s, %s, %s, %s, %s, 'running', %s, %s)
        ON CONFLICT (chain_id, scope) DO UPDATE
           SET window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
               step_seconds = EXCLUDED.step_seconds, status = 'running', error = NULL,
               buckets_total = EXCLUDED.buckets_total, buckets_done = EXCLUDED.buckets_done, updated_at = now()
        """,
        (chain_id, scope, start, end, step, total, done),
    )


def advance_job(conn: Connection, chain_id: int, scope: str, done: int) -> None:
    conn.execute(
        "UPDATE backfill_jobs SET buckets_done = buckets_done + %s, updated_at = now()"
        " WHERE chain_id = %s AND scope = %s",
        (done, chain_id, scope),
    )


def finish_job(conn: Connection, chain_id: int, scope: str, *, error: str | None = None) -> None:
    conn.execute(
        "UPDATE backfill_jobs SET status = %s, error = %s, updated_at = now() WHERE chain_id = %s AND scope = %s",
        ("failed" if error else "done", error, chain_id, scope),
    )


def jobs(conn: Connection, scopes: Sequence[str]) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM backfill_jobs WHERE scope = ANY(%s) ORDER BY chain_id, scope", (list(scopes),)
    ).fetchall()


def unfillable(conn: Connection, chain_id: int, scope: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT bucket_start, block_number, detail FROM backfill_buckets WHERE chain_id = %s AND scope = %s"
        " AND status = 'unfillable' AND bucket_start >= %s AND bucket_start < %s ORDER BY bucket_start",
        (chain_id, scope, start, end),
    ).fetchall()


_REQUEST_POSITIONS_JOB = """
INSERT INTO backfill_jobs (chain_id, scope, window_start, window_end, step_seconds, status)
VALUES (%s, %s, %s, %s, %s, 'running') ON CONFLICT (chain_id, scope) DO NOTHING
"""


class PositionsJob(NamedTuple):
    """A positions backfill to request: the chain, the address's scope (`positions_scope`), the
    window and its step in seconds."""

    chain_id: int
    scope: str
    start: datetime
    end: datetime
    step: int


def request_positions_job(
    conn: Connection, chain_id: int, scope: str, start: datetime, end: datetime, step: int
) -> None:
    """A pending positions job for the scope's address; a re-request leaves the existing job alone."""
    conn.execute(_REQUEST_POSITIONS_JOB, PositionsJob(chain_id, scope, start, end, step))


def request_positions_jobs(conn: Connection, jobs: Sequence[PositionsJob]) -> None:
    """`request_positions_job` for each job, pipelined in one round of statements."""
    if jobs:
        with conn.cursor() as cur:
            cur.executemany(_REQUEST_POSITIONS_JOB, jobs)


def drop_job(conn: Connection, chain_id: int, scope: str) -> None:
    conn.execute("DELETE FROM backfill_jobs WHERE chain_id = %s AND scope = %s", (chain_id, scope))


def pending_positions_jobs(conn: Connection) -> list[dict[str, Any]]:
    """The running positions jobs, oldest first."""
    return conn.execute(
        "SELECT chain_id, scope, window_start, window_end FROM backfill_jobs"
        " WHERE scope LIKE 'positions:%%' AND status = 'running' ORDER BY started_at"
    ).fetchall()


def has_address_history(conn: Connection, chain_id: int, address: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM address_history WHERE chain_id = %s AND address = %s LIMIT 1", (chain_id, address)
        ).fetchone()
        is not None
    )


def save_address_hour(
    conn: Connection,
    chain_id: int,
    address: str,
    bucket: datetime,
    *,
    block: int,
    observed_at: datetime,
    supplied: Decimal,
    borrowed: Decimal,
    health: Decimal | None,
    positions_json: str,
) -> None:
    """One hour of an address's totals; an hour already stored is kept."""
    conn.execute(
        """
        INSERT INTO address_history (chain_id, address, bucket_start, block_number, observed_at, supplied_usd,
                                     borrowed_usd, net_worth_usd, min_health_factor, positions)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING
        """,
        (
            chain_id,
            address,
            bucket,
            block,
            observed_at,
            supplied,
            borrowed,
            supplied - borrowed,
            health,
            positions_json,
        ),
    )


# ---- The positions backfill's port ----------------------------------------------------------


class PositionHistoryRecords(Protocol):
    """What the positions backfill reads and writes in one unit of work: its jobs
    (`backfill_jobs` rows of a `positions:<address>` scope), its hours' progress rows
    (`backfill_buckets`) and the address hours it stores (`address_history`)."""

    def request_positions_job(self, chain_id: int, scope: str, start: datetime, end: datetime, step: int) -> None:
        """A pending job for the scope; a re-request leaves the existing job alone."""
        ...

    def pending_positions_jobs(self) -> list[dict[str, Any]]:
        """The running positions jobs (chain_id, scope, window_start, window_end), oldest first."""
        ...

    def drop_job(self, chain_id: int, scope: str) -> None: ...

    def start_job(
        self, chain_id: int, scope: str, start: datetime, end: datetime, step: int, total: int, done: int
    ) -> None:
        """The job running over the window, `done` of its `total` buckets already done; error cleared."""
        ...

    def advance_job(self, chain_id: int, scope: str, done: int) -> None: ...

    def finish_job(self, chain_id: int, scope: str, *, error: str | None = None) -> None:
        """The job done, or failed with `error` as its reason."""
        ...

    def done_buckets(self, chain_id: int, scope: str, start: datetime, end: datetime) -> set[datetime]: ...

    def mark(
        self,
        chain_id: int,
        scope: str,
        bucket: datetime,
        *,
        block: int | None,
        status: str,
        rows: int = 0,
        detail: str | None = None,
    ) -> None:
        """The bucket's progress row; a bucket already marked keeps its row."""
        ...

    def has_address_history(self, chain_id: int, address: str) -> bool: ...

    def save_address_hour(
        self,
        chain_id: int,
        address: str,
        bucket: datetime,
        *,
        block: int,
        observed_at: datetime,
        supplied: Decimal,
        borrowed: Decimal,
        health: Decimal | None,
        positions_json: str,
    ) -> None:
        """One hour of an address's totals (net worth = supplied - borrowed); an hour already stored is kept."""
        ...


class PositionHistoryRepository(Protocol):
    """`transaction()`: one unit of work, all or nothing; `session()`: reads, each on its own."""

    def transaction(self) -> AbstractContextManager[PositionHistoryRecords]: ...

    def session(self) -> AbstractContextManager[PositionHistoryRecords]: ...


class PostgresPositionHistoryRecords:
    """`PositionHistoryRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def request_positions_job(self, chain_id: int, scope: str, start: datetime, end: datetime, step: int) -> None:
        request_positions_job(self.conn, chain_id, scope, start, end, step)

    def pending_positions_jobs(self) -> list[dict[str, Any]]:
        return pending_positions_jobs(self.conn)

    def drop_job(self, chain_id: int, scope: str) -> None:
        drop_job(self.conn, chain_id, scope)

    def start_job(
        self, chain_id: int, scope: str, start: datetime, end: datetime, step: int, total: int, done: int
    ) -> None:
        start_job(self.conn, chain_id, scope, start, end, step, total, done)

    def advance_job(self, chain_id: int, scope: str, done: int) -> None:
        advance_job(self.conn, chain_id, scope, done)

    def finish_job(self, chain_id: int, scope: str, *, error: str | None = None) -> None:
        finish_job(self.conn, chain_id, scope, error=error)

    def done_buckets(self, chain_id: int, scope: str, start: datetime, end: datetime) -> set[datetime]:
        return done_buckets(self.conn, chain_id, scope, start, end)

    def mark(
        self,
        chain_id: int,
        scope: str,
        bucket: datetime,
        *,
        block: int | None,
        status: str,
        rows: int = 0,
        detail: str | None = None,
    ) -> None:
        mark(self.conn, chain_id, scope, bucket, block=block, status=status, rows=rows, detail=detail)

    def has_address_history(self, chain_id: int, address: str) -> bool:
        return has_address_history(self.conn, chain_id, address)

    def save_address_hour(
        self,
        chain_id: int,
        address: str,
        bucket: datetime,
        *,
        block: int,
        observed_at: datetime,
        supplied: Decimal,
        borrowed: Decimal,
        health: Decimal | None,
        positions_json: str,
    ) -> None:
        save_address_hour(
            self.conn,
            chain_id,
            address,
            bucket,
            block=block,
            observed_at=observed_at,
            supplied=supplied,
            borrowed=borrowed,
            health=health,
            positions_json=positions_json,
        )


class PostgresPositionHistory(UnitOfWork[PositionHistoryRecords]):
    """`PositionHistoryRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresPositionHistoryRecords)


def position_history(history: PositionHistoryRepository | Database) -> PositionHistoryRepository:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresPositionHistory(history) if isinstance(history, Database) else history
