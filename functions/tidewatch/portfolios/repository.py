"""Portfolios in Postgres. Every read and write is scoped by owner: another user's id finds nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from tidewatch.backfill.repository import PositionsJob, positions_scope, request_positions_jobs
from tidewatch.billing.limits import PlanUsage
from tidewatch.billing.repository import PlanUsageRecords
from tidewatch.db import Connection, Database
from tidewatch.portfolios.models import Portfolio, Snapshot, Wallet, WalletIn

_SELECT = """
SELECT p.id, p.name, p.chains, p.created_at, p.updated_at,
       COALESCE(
         (SELECT json_agg(json_build_object('address', a.address, 'label', a.label) ORDER BY a.added_at, a.address)
          FROM portfolio_addresses a WHERE a.portfolio_id = p.id),
         '[]'::json) AS wallets
FROM portfolios p
"""


def _portfolio(row: dict[str, Any]) -> Portfolio:
    return Portfolio(
        id=row["id"],
        name=row["name"],
        chains=list(row["chains"]),
        wallets=[Wallet(**w) for w in row["wallets"]],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PortfolioAdmission(Protocol):
    """The plan check (tidewatch.billing.limits.ensure_portfolio_allowed): raises 402 when refused."""

    def __call__(self, usage: PlanUsage, user_id: int, *, addresses: int, new: bool) -> object: ...


class PortfolioRepository:
    def __init__(self, database: Database, *, admission: PortfolioAdmission | None = None) -> None:
        """`admission(usage, user_id, addresses=, new=)` runs inside the create transaction, and
        inside an update that replaces the wallets, and may refuse (plan limits).

        Checking there, against the plan in the database, closes the race between two concurrent
        writes and never trusts a plan claim that may be minutes old.
        """
        self._db = database
        self._admission = admission

    @staticmethod
    def _request_history(conn: Connection, portfolio_id: int) -> None:
        """A pending 30-day positions backfill per (wallet, chain) of the portfolio, in the same
        transaction as the wallets (the ingest function's heal schedule runs it; one already
        requested for that address and chain is kept). The window ends at the database clock's hour."""
        rows = conn.execute(
            """
            SELECT c.chain_id, a.address,
                   date_trunc('hour', now()) - interval '30 days' AS window_start, date_trunc('hour', now()) AS window_end
            FROM portfolio_addresses a JOIN portfolios p ON p.id = a.portfolio_id, unnest(p.chains) AS c(chain_id)
            WHERE a.portfolio_id = %s
            """,
            (portfolio_id,),
        ).fetchall()
        request_positions_jobs(
            conn,
            [
                PositionsJob(r["chain_id"], positions_scope(r["address"]), r["window_start"], r["window_end"], 3600)
                for r in rows
            ],
        )

    @staticmethod
    def _set_wallets(conn: Connection, portfolio_id: int, wallets: Sequence[WalletIn]) -> None:
        conn.execute("DELETE FROM portfolio_addresses WHERE portfolio_id = %s", (portfolio_id,))
        if wallets:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO portfolio_addresses (portfolio_id, address, label) VALUES (%s, %s, %s)",
                    [(portfolio_id, w.address, w.label) for w in wallets],
                )

    def create(self, user_id: int, name: str, wallets: Sequence[WalletIn], chains: Sequence[int]) -> Portfolio:
        with self._db.transaction() as conn:
            if self._admission is not None:
                self._admission(PlanUsageRecords(conn), user_id, addresses=len(wallets), new=True)
            row = conn.execute(
                "INSERT INTO portfolios (user_id, name, chains) VALUES (%s, %s, %s) RETURNING id",
                (user_id, name, list(chains)),
            ).fetchone()
            assert row is not None
            self._set_wallets(conn, row["id"], wallets)
            self._request_history(conn, row["id"])
            found = conn.execute(_SELECT + " WHERE p.id = %s", (row["id"],)).fetchone()
        assert found is not None
        return _portfolio(found)

    def count(self, user_id: int) -> int:
        with self._db.connection() as conn:
            row = conn.execute("SELECT count(*) AS n FROM portfolios WHERE user_id = %s", (user_id,)).fetchone()
        return int(row["n"]) if row else 0

    def get(self, user_id: int, portfolio_id: int) -> Portfolio | None:
        with self._db.connection() as conn:
            row = conn.execute(
                _SELECT + " WHERE p.id = %s AND p.user_id = %s",
                (portfolio_id, user_id),
            ).fetchone()
        return _portfolio(row) if row else None

    def list_for_user(self, user_id: int, *, after_id: int | None, limit: int) -> list[Portfolio]:
        with self._db.connection() as conn:
            rows = conn.execute(
                _SELECT + " WHERE p.user_id = %s AND p.id > %s ORDER BY p.id LIMIT %s",
                (user_id, after_id or 0, limit),
            ).fetchall()
        return [_portfolio(r) for r in rows]

    def update(
        self,
        user_id: int,
        portfolio_id: int,
        *,
        name: str | None,
        wallets: Sequence[WalletIn] | None,
        chains: Sequence[int] | None,
    ) -> Portfolio | None:
        with self._db.transaction() as conn:
            owned = conn.execute(
                "SELECT id FROM portfolios WHERE id = %s AND user_id = %s FOR UPDATE", (portfolio_id, user_id)
            ).fetchone()
            if owned is None:
                return None
            if wallets is not None and self._admission is not None:
                self._admission(PlanUsageRecords(conn), user_id, addresses=len(wallets), new=False)
            row = conn.execute(
                """
                UPDATE portfolios SET name = COALESCE(%s, name), chains = COALESCE(%s, chains), updated_at = now()
                WHERE id = %s AND user_id = %s RETURNING id
                """,
                (name, list(chains) if chains is not None else None, portfolio_id, user_id),
            ).fetchone()
            if row is None:
                return None
            if wallets is not None:
                self._set_wallets(conn, portfolio_id, wallets)
            self._request_history(conn, portfolio_id)
            found = conn.execute(_SELECT + " WHERE p.id = %s", (portfolio_id,)).fetchone()
        return _portfolio(found) if found else None

    def delete(self, user_id: int, portfolio_id: int) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute("DELETE FROM portfolios WHERE id = %s AND user_id = %s", (portfolio_id, user_id))
            return cur.rowcount == 1

    def add_snapshot(
        self,
        portfolio_id: int,
        *,
        taken_at: datetime,
        net_worth_usd: Decimal,
        min_health_factor: Decimal | None,
        payload: dict[str, Any],
    ) -> None:
        with self._db.transaction() as conn:
            # A snapshot is chart history written on every view: waiting for the WAL flush (~2 ms)
            # buys nothing, since losing the last instant of history in a crash is harmless. Only this
            # transaction commits asynchronously (set_config is local to it, RDS Proxy-friendly).
            conn.execute("SELECT set_config('synchronous_commit', 'off', true)")
            conn.execute(
                """
                INSERT INTO position_snapshots (portfolio_id, taken_at, net_worth_usd, min_health_factor, payload)
                VALUES (%s, %s, %s, %s, %s::jsonb)
                """,
                (portfolio_id, taken_at, net_worth_usd, min_health_factor, json.dumps(payload, separators=(",", ":"))),
            )

    def chart(
        self, addresses: Sequence[str], chains: Sequence[int], start: datetime, end: datetime, step: int
    ) -> tuple[list[dict[str, Any]], datetime | None, list[dict[str, Any]]]:
        """(points per bucket summed over the addresses and chains, first stored hour, backfill jobs)."""
        lowered = [a.lower() for a in addresses]
        with self._db.connection() as conn:
            points = conn.execute(
                """
                WITH per AS (
                    SELECT date_bin(make_interval(secs => %(step)s), bucket_start, %(start)s) AS t, chain_id, address,
                           avg(net_worth_usd) AS nw, avg(supplied_usd) AS s, avg(borrowed_usd) AS b,
                           min(min_health_factor) AS hf, count(*) AS n
                    FROM address_history
                    WHERE address = ANY(%(a)s) AND chain_id = ANY(%(c)s)
                      AND bucket_start >= %(start)s AND bucket_start < %(end)s
                    GROUP BY 1, 2, 3)
                SELECT t, sum(nw) AS net_worth_usd, sum(s) AS supplied_usd, sum(b) AS borrowed_usd,
                       min(hf) AS min_health_factor, sum(n)::int AS samples
                FROM per GROUP BY t ORDER BY t
                """,
                {"step": step, "start": start, "end": end, "a": lowered, "c": list(chains)},
            ).fetchall()
            first = conn.execute(
                "SELECT min(bucket_start) AS t FROM address_history WHERE address = ANY(%s) AND chain_id = ANY(%s)",
                (lowered, list(chains)),
            ).fetchone()
            jobs = conn.execute(
                """
                SELECT chain_id, substr(scope, 11) AS address, status, buckets_done, buckets_total,
                       window_start, error
                FROM backfill_jobs WHERE scope = ANY(%s) AND chain_id = ANY(%s) ORDER BY address, chain_id
                """,
                ([f"positions:{a}" for a in lowered], list(chains)),
            ).fetchall()
        return points, (first["t"] if first else None), jobs

    def history(
        self, portfolio_id: int, *, before_id: int | None, limit: int, since: datetime | None
    ) -> list[Snapshot]:
        """Newest first; `before_id` is the cursor (snapshot ids grow with time)."""
        with self._db.connection() as conn:
            rows = conn.execute(
                """
                SELECT id, taken_at, net_worth_usd, min_health_factor FROM position_snapshots
                WHERE portfolio_id = %s AND (%s::bigint IS NULL OR id < %s) AND (%s::timestamptz IS NULL OR taken_at >= %s)
                ORDER BY id DESC LIMIT %s
                """,
                (portfolio_id, before_id, before_id, since, since, limit),
            ).fetchall()
        return [Snapshot(**r) for r in rows]


def latest_snapshot_payloads(conn: Connection, portfolio_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Each portfolio's latest stored positions snapshot: portfolio_id, payload."""
    return conn.execute(
        """SELECT DISTINCT ON (portfolio_id) portfolio_id, payload
           FROM position_snapshots WHERE portfolio_id = ANY(%s)
           ORDER BY portfolio_id, taken_at DESC""",
        (list(portfolio_ids),),
    ).fetchall()
