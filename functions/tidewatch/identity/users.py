"""Users, keyed by their checksummed address: created on first sign-in."""

from __future__ import annotations

from dataclasses import dataclass

from tidewatch.db import Database


@dataclass(frozen=True)
class User:
    id: int
    address: str
    plan: str


class UserRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def sign_in(self, address: str) -> User:
        """Create the user on first sign-in, or load it; either way record the login time."""
        with self._db.connection() as conn:
            row = conn.execute(
                """
                INSERT INTO users (address, last_login_at) VALUES (%s, now())
                ON CONFLICT (address) DO UPDATE SET last_login_at = excluded.last_login_at
                RETURNING id, address, plan
                """,
                (address,),
            ).fetchone()
        assert row is not None
        return User(id=row["id"], address=row["address"], plan=row["plan"])

    def get(self, user_id: int) -> User | None:
        with self._db.connection() as conn:
            row = conn.execute("SELECT id, address, plan FROM users WHERE id = %s", (user_id,)).fetchone()
        return User(id=row["id"], address=row["address"], plan=row["plan"]) if row else None
