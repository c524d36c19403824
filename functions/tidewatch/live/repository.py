"""Open WebSocket connections in Postgres (`websocket_connections`), with their user and topics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidewatch.db import Database


@dataclass(frozen=True)
class Recipient:
    connection_id: str
    user_id: int
    endpoint: str


class ConnectionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def connect(self, connection_id: str, user_id: int, endpoint: str) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO websocket_connections (connection_id, user_id, endpoint) VALUES (%s, %s, %s) "
                "ON CONFLICT (connection_id) DO UPDATE SET user_id = EXCLUDED.user_id, endpoint = EXCLUDED.endpoint",
                (connection_id, user_id, endpoint),
            )

    def disconnect(self, connection_id: str) -> None:
        self.remove([connection_id])

    def remove(self, connection_ids: Sequence[str]) -> int:
        if not connection_ids:
            return 0
        with self._db.connection() as conn:
            cur = conn.execute(
                "DELETE FROM websocket_connections WHERE connection_id = ANY(%s)", (list(connection_ids),)
            )
            return cur.rowcount

    def user_of(self, connection_id: str) -> int | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT user_id FROM websocket_connections WHERE connection_id = %s", (connection_id,)
            ).fetchone()
        return int(row["user_id"]) if row else None

    def subscribe(self, connection_id: str, topic: str) -> list[str]:
        with self._db.connection() as conn:
            row = conn.execute(
                "UPDATE websocket_connections SET topics = CASE WHEN %s = ANY(topics) THEN topics "
                "ELSE array_append(topics, %s) END WHERE connection_id = %s RETURNING topics",
                (topic, topic, connection_id),
            ).fetchone()
        return list(row["topics"]) if row else []

    def unsubscribe(self, connection_id: str, topic: str) -> list[str]:
        with self._db.connection() as conn:
            row = conn.execute(
                "UPDATE websocket_connections SET topics = array_remove(topics, %s) "
                "WHERE connection_id = %s RETURNING topics",
                (topic, connection_id),
            ).fetchone()
        return list(row["topics"]) if row else []

    def subscribers(self, topics: Sequence[str]) -> list[Recipient]:
        """Connections subscribed to any of these public topics (uses the GIN index on topics)."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT connection_id, user_id, endpoint FROM websocket_connections WHERE topics && %s::text[]",
                (list(topics),),
            ).fetchall()
        return [Recipient(r["connection_id"], int(r["user_id"]), r["endpoint"]) for r in rows]

    def user_subscribers(self, user_id: int, topic: str) -> list[Recipient]:
        """The user's OWN connections subscribed to a private topic: the filter is on user_id."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT connection_id, user_id, endpoint FROM websocket_connections "
                "WHERE user_id = %s AND %s = ANY(topics)",
                (user_id, topic),
            ).fetchall()
        return [Recipient(r["connection_id"], int(r["user_id"]), r["endpoint"]) for r in rows]


class PostgresPortfolioOwnership:
    def __init__(self, database: Database) -> None:
        self._db = database

    def owner_of(self, portfolio_id: int) -> int | None:
        with self._db.connection() as conn:
            row = conn.execute("SELECT user_id FROM portfolios WHERE id = %s", (portfolio_id,)).fetchone()
        return int(row["user_id"]) if row else None
