"""API rows in PostgreSQL: `idempotency_keys`, one record per (user, Idempotency-Key) of a create
route, claimed before the route runs and completed with its response (api.idempotency)."""

from __future__ import annotations

import json
from typing import Any

from tidewatch.db import Connection

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
