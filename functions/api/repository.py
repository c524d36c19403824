"""API rows in PostgreSQL: `idempotency_keys`, one record per (user, Idempotency-Key) of a create
route, claimed before the route runs and completed with its response (api.idempotency)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any, Protocol

from tidewatch.db import Connection, Database, UnitOfWork

_CLAIM = """
WITH expired AS (
    DELETE FROM idempotency_keys WHERE user_id = %(user)s AND created_at < now() - make_interval(hours => %(keep)s)
)
INSERT INTO idempotency_keys (user_id, key, route, request_hash) VALUES (%(user)s, %(key)s, %(route)s, %(hash)s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING user_id
"""


def claim_idempotency_key(
    conn: Connection, *, user_id: int, key: str, route: str, fingerprint: str, keep_hours: int
) -> bool:
    """Record the key as in progress; False when the user already holds it. The user's records
    older than `keep_hours` are dropped first, so an expired key can be claimed again."""
    row = conn.execute(
        _CLAIM, {"user": user_id, "key": key, "route": route, "hash": fingerprint, "keep": keep_hours}
    ).fetchone()
    return row is not None


def load_idempotency_key(conn: Connection, *, user_id: int, key: str) -> dict[str, Any] | None:
    """The record's route, request hash and stored response (status None while in progress)."""
    row = conn.execute(
        "SELECT route, request_hash, status, headers, body FROM idempotency_keys WHERE user_id = %s AND key = %s",
        (user_id, key),
    ).fetchone()
    return dict(row) if row is not None else None


def release_idempotency_key(conn: Connection, *, user_id: int, key: str) -> None:
    conn.execute("DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s", (user_id, key))


def complete_idempotency_key(
    conn: Connection, *, user_id: int, key: str, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    conn.execute(
        """UPDATE idempotency_keys SET status = %s, headers = %s, body = %s, completed_at = now()
           WHERE user_id = %s AND key = %s""",
        (status, json.dumps(headers), body, user_id, key),
    )


class IdempotencyRecords(Protocol):
    """The Idempotency-Key records of one connection (each statement on its own)."""

    def claim(self, *, user_id: int, key: str, route: str, fingerprint: str, keep_hours: int) -> bool:
        """As `claim_idempotency_key`: False when the user already holds the key (expired ones dropped first)."""
        ...

    def load(self, *, user_id: int, key: str) -> dict[str, Any] | None:
        """As `load_idempotency_key`: route, request_hash, status (None in progress), headers, body."""
        ...

    def release(self, *, user_id: int, key: str) -> None: ...

    def complete(self, *, user_id: int, key: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...


class IdempotencyRepository(Protocol):
    """`session()`: one connection, each statement on its own."""

    def session(self) -> AbstractContextManager[IdempotencyRecords]: ...


class PostgresIdempotencyRecords:
    """`IdempotencyRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim(self, *, user_id: int, key: str, route: str, fingerprint: str, keep_hours: int) -> bool:
        return claim_idempotency_key(
            self.conn, user_id=user_id, key=key, route=route, fingerprint=fingerprint, keep_hours=keep_hours
        )

    def load(self, *, user_id: int, key: str) -> dict[str, Any] | None:
        return load_idempotency_key(self.conn, user_id=user_id, key=key)

    def release(self, *, user_id: int, key: str) -> None:
        release_idempotency_key(self.conn, user_id=user_id, key=key)

    def complete(self, *, user_id: int, key: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        complete_idempotency_key(self.conn, user_id=user_id, key=key, status=status, headers=headers, body=body)


class PostgresIdempotencyKeys(UnitOfWork[IdempotencyRecords]):
    """`IdempotencyRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresIdempotencyRecords)
