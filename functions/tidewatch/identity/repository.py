"""Users and refresh tokens in PostgreSQL (tables `users`, `refresh_tokens`).

Users are keyed by their checksummed address and created on first sign-in. Refresh tokens are
stored as hashes only; `RefreshTokenRepository` is the port `tidewatch.identity.refresh` rotates
them over, one unit of work per operation.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tidewatch.db import Connection, Database, UnitOfWork


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

    def exists(self, user_id: int) -> bool:
        """Whether the user row is there; a database fault raises (psycopg.Error)."""
        with self._db.connection() as conn:
            return conn.execute("SELECT 1 AS one FROM users WHERE id = %s", (user_id,)).fetchone() is not None


@dataclass(frozen=True)
class StoredRefreshToken:
    id: uuid.UUID
    user_id: int
    family_id: uuid.UUID
    expires_at: datetime
    revoked_at: datetime | None


class RefreshTokenRecords(Protocol):
    """Refresh tokens within one unit of work, found by the hash of the token."""

    def insert(
        self,
        token_id: uuid.UUID,
        user_id: int,
        family_id: uuid.UUID,
        token_hash: bytes,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None: ...

    def find_for_update(self, token_hash: bytes) -> StoredRefreshToken | None: ...

    def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        """Revoke every token of the family not revoked yet."""
        ...

    def replace(self, token_id: uuid.UUID, successor_id: uuid.UUID, at: datetime) -> None: ...

    def revoke_family_of(self, token_hash: bytes, user_id: int, at: datetime) -> bool:
        """Revoke the family of the user's token; False when nothing was left to revoke."""
        ...

    def revoke_all(self, user_id: int, at: datetime) -> int: ...


class RefreshTokenRepository(Protocol):
    def transaction(self) -> AbstractContextManager[RefreshTokenRecords]: ...


class PostgresRefreshTokenRecords:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert(
        self,
        token_id: uuid.UUID,
        user_id: int,
        family_id: uuid.UUID,
        token_hash: bytes,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        self._conn.execute(
            """
            INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
            VALUES (%s, %s, %s, %s, %s, %s)
            """,
            (token_id, user_id, family_id, token_hash, issued_at, expires_at),
        )

    def find_for_update(self, token_hash: bytes) -> StoredRefreshToken | None:
        row = self._conn.execute(
            "SELECT id, user_id, family_id, expires_at, revoked_at FROM refresh_tokens "
            "WHERE token_hash = %s FOR UPDATE",
            (token_hash,),
        ).fetchone()
        if row is None:
            return None
        return StoredRefreshToken(
            id=row["id"],
            user_id=int(row["user_id"]),
            family_id=row["family_id"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )

    def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        self._conn.execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL", (at, family_id)
        )

    def replace(self, token_id: uuid.UUID, successor_id: uuid.UUID, at: datetime) -> None:
        self._conn.execute(
            "UPDATE refresh_tokens SET revoked_at = %s, replaced_by = %s WHERE id = %s", (at, successor_id, token_id)
        )

    def revoke_family_of(self, token_hash: bytes, user_id: int, at: datetime) -> bool:
        cur = self._conn.execute(
            """
            UPDATE refresh_tokens SET revoked_at = %s
            WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = %s AND user_id = %s)
              AND revoked_at IS NULL
            """,
            (at, token_hash, user_id),
        )
        return cur.rowcount > 0

    def revoke_all(self, user_id: int, at: datetime) -> int:
        cur = self._conn.execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL", (at, user_id)
        )
        return int(cur.rowcount)


class PostgresRefreshTokens(UnitOfWork[RefreshTokenRecords]):
    """`RefreshTokenRepository` over a database: one transaction per unit of work."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresRefreshTokenRecords)
