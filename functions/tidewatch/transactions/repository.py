"""Prepared transactions in Postgres (`transactions` table): prepared → submitted → confirmed/failed/replaced.

A row holds one intent's ordered transactions (`txs` jsonb, each with its own status and hash);
the row's status aggregates them: failed/replaced if any is, confirmed when all are, submitted as
soon as one is sent. `tx_hash`/`block_number` follow the latest sent/confirmed transaction.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import TypeAdapter

from tidewatch.db import Database
from tidewatch.errors import InvalidInput
from tidewatch.transactions.models import AnyIntent, FeeQuote, MarketRow, PreparedTransactions, UnsignedTransaction

_COLUMNS = (
    "id, user_id, portfolio_id, rule_id, chain_id, status, intent, txs, summary, tx_hash, block_number, error, "
    "created_at, updated_at"
)


_INTENT: TypeAdapter[AnyIntent] = TypeAdapter(AnyIntent)


def aggregate_status(txs: Sequence[UnsignedTransaction]) -> str:
    statuses = [t.status for t in txs]
    for terminal in ("failed", "replaced"):
        if terminal in statuses:
            return terminal
    if statuses and all(s == "confirmed" for s in statuses):
        return "confirmed"
    if any(s in ("submitted", "confirmed") for s in statuses):
        return "submitted"
    return "prepared"


_FINAL = frozenset({"confirmed", "failed", "replaced"})


def merge_steps(
    base: Sequence[UnsignedTransaction],
    changed: Sequence[UnsignedTransaction],
    stored: Sequence[UnsignedTransaction],
) -> list[UnsignedTransaction]:
    """Apply the steps a writer changed (`changed` vs its read `base`) onto the `stored` ones; a
    stored final status stays (a concurrent poll got there first)."""
    merged = list(stored)
    for i, (before, after) in enumerate(zip(base, changed, strict=True)):
        if i < len(merged) and after != before and not (merged[i].status in _FINAL and after.status not in _FINAL):
            merged[i] = after
    return merged


def _record(row: dict[str, Any]) -> PreparedTransactions:
    stored = row["txs"]
    return PreparedTransactions(
        id=row["id"],
        status=row["status"],
        chain_id=row["chain_id"],
        summary=row["summary"],
        intent=_INTENT.validate_python(row["intent"]),
        transactions=[UnsignedTransaction.model_validate(t) for t in stored["transactions"]],
        fees=FeeQuote.model_validate(stored["fees"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tx_hash=row["tx_hash"],
        block_number=row["block_number"],
        error=row["error"],
    )


def encode_cursor(created_at: datetime, record_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{record_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    if not cursor:
        return None
    try:
        when, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(when), UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "cursor is not valid", errors=[{"field": "cursor", "message": "not a cursor from this API", "in": "query"}]
        ) from exc


class TransactionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def portfolio_addresses(self, user_id: int, portfolio_id: int | None = None) -> set[str]:
        """Lower-case addresses of the user's portfolios (or of one portfolio of theirs)."""
        sql = (
            "SELECT DISTINCT lower(a.address) AS address FROM portfolio_addresses a "
            "JOIN portfolios p ON p.id = a.portfolio_id WHERE p.user_id = %s"
        )
        params: list[Any] = [user_id]
        if portfolio_id is not None:
            sql += " AND p.id = %s"
            params.append(portfolio_id)
        with self._db.connection() as conn:
            return {r["address"] for r in conn.execute(sql, params).fetchall()}

    def market(self, market_id: int) -> MarketRow | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id, chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals "
                "FROM markets WHERE id = %s",
                (market_id,),
            ).fetchone()
        return MarketRow(**row) if row else None

    def by_idempotency_key(self, user_id: int, key: str) -> PreparedTransactions | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM transactions WHERE user_id = %s AND idempotency_key = %s",
                (user_id, key),
            ).fetchone()
        return _record(row) if row else None

    def insert(
        self,
        *,
        user_id: int,
        portfolio_id: int | None,
        rule_id: int | None,
        intent: AnyIntent,
        chain_id: int,
        transactions: Sequence[UnsignedTransaction],
        fees: FeeQuote,
        summary: str,
        idempotency_key: str | None,
    ) -> PreparedTransactions:
        """Store a new prepared set; with an idempotency key already used, return the first one."""
        txs = {
            "transactions": [t.model_dump(mode="json") for t in transactions],
            "fees": fees.model_dump(mode="json"),
        }
        with self._db.connection() as conn:
            row = conn.execute(
                f"INSERT INTO transactions (id, user_id, portfolio_id, rule_id, chain_id, status, intent, txs, "
                f"summary, idempotency_key) VALUES (%s, %s, %s, %s, %s, 'prepared', %s::jsonb, %s::jsonb, %s, %s) "
                f"ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
                f"RETURNING {_COLUMNS}",
                (
                    uuid4(),
                    user_id,
                    portfolio_id,
                    rule_id,
                    chain_id,
                    json.dumps(intent.model_dump(mode="json")),
                    json.dumps(txs),
                    summary,
                    idempotency_key,
                ),
            ).fetchone()
        if row is None:
            assert idempotency_key is not None
            existing = self.by_idempotency_key(user_id, idempotency_key)
            assert existing is not None
            return existing
        return _record(row)

    def get(self, user_id: int, record_id: UUID) -> PreparedTransactions | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM transactions WHERE id = %s AND user_id = %s", (record_id, user_id)
            ).fetchone()
        return _record(row) if row else None

    def list_for_user(
        self, user_id: int, *, cursor: str | None, limit: int, status: str | None = None
    ) -> tuple[list[PreparedTransactions], str | None]:
        sql = f"SELECT {_COLUMNS} FROM transactions WHERE user_id = %s"
        params: list[Any] = [user_id]
        if status:
            sql += " AND status = %s"
            params.append(status)
        after = decode_cursor(cursor)
        if after:
            sql += " AND (created_at, id) < (%s, %s)"
            params.extend(after)
        sql += " ORDER BY created_at DESC, id DESC LIMIT %s"
        params.append(limit + 1)
        with self._db.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more and rows else None
        return [_record(r) for r in rows], next_cursor

    def pending(self, limit: int) -> list[tuple[int, PreparedTransactions]]:
        """(user id, record) of rows with a sent, unconfirmed transaction, oldest first."""
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM transactions WHERE status = 'submitted' ORDER BY updated_at LIMIT %s",
                (limit,),
            ).fetchall()
        return [(int(r["user_id"]), _record(r)) for r in rows]

    def save_progress(
        self,
        record: PreparedTransactions,
        transactions: Sequence[UnsignedTransaction],
        *,
        tx_hash: str | None = None,
        block_number: int | None = None,
        error: str | None = None,
    ) -> PreparedTransactions:
        """Write the steps this caller changed (relative to `record`, its read); the row status is
        derived from the result.

        The broadcast of step n+1 and the receipt poll confirming step n both read, then write the
        row: writing the whole list back would let the later writer undo the other's step (a sent
        step back to "prepared", its hash lost, never tracked). So, under a row lock, only the
        steps that differ from `record` are applied to the stored ones, and a final status
        (confirmed / failed / replaced) is never taken back by a stale read.
        """
        with self._db.transaction() as conn:
            current = conn.execute("SELECT txs FROM transactions WHERE id = %s FOR UPDATE", (record.id,)).fetchone()
            assert current is not None
            stored = [UnsignedTransaction.model_validate(t) for t in current["txs"]["transactions"]]
            merged = merge_steps(record.transactions, transactions, stored)
            txs = {"transactions": [t.model_dump(mode="json") for t in merged], "fees": current["txs"]["fees"]}
            row = conn.execute(
                f"UPDATE transactions SET txs = %s::jsonb, status = %s, tx_hash = COALESCE(%s, tx_hash), "
                f"block_number = COALESCE(%s, block_number), error = COALESCE(%s, error), updated_at = now() "
                f"WHERE id = %s RETURNING {_COLUMNS}",
                (json.dumps(txs), aggregate_status(merged), tx_hash, block_number, error, record.id),
            ).fetchone()
        assert row is not None
        return _record(row)
