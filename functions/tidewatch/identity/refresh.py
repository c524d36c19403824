"""Refresh tokens: opaque, stored hashed, rotating on every use, revocable (table refresh_tokens).

Each use revokes the presented token and issues its successor in the same family. Presenting a
token that was already rotated away means it was copied: the whole family is revoked, so both the
thief and the user must sign in again (OAuth 2.0 Security BCP §4.14 "refresh token rotation").
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tidewatch.db import Connection, Database
from tidewatch.identity.errors import InvalidRefreshToken
from tidewatch.observability import logger


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    expires_at: datetime


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class RefreshTokens:
    def __init__(self, database: Database, *, lifetime_seconds: int, clock: Callable[[], float]) -> None:
        self._db = database
        self._lifetime = timedelta(seconds=lifetime_seconds)
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _insert(self, conn: Connection, user_id: int, family_id: uuid.UUID) -> tuple[uuid.UUID, IssuedRefreshToken]:
        token_id = uuid.uuid4()
        token = secrets.token_urlsafe(32)
        now = self._now()
        expires_at = now + self._lifetime
        conn.execute(
            """
            INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
            VALUES (%s, %s, %s, %s, %s, %s)
            """,
            (token_id, user_id, family_id, _hash(token), now, expires_at),
        )
        return token_id, IssuedRefreshToken(token=token, expires_at=expires_at)

    def issue(self, user_id: int) -> IssuedRefreshToken:
        """A new token starting a new family (a new sign-in)."""
        with self._db.connection() as conn:
            return self._insert(conn, user_id, uuid.uuid4())[1]

    def rotate(self, token: str) -> tuple[int, IssuedRefreshToken]:
        """Spend `token`: returns its user and the successor. A replayed token revokes its family."""
        reused = False
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT id, user_id, family_id, expires_at, revoked_at FROM refresh_tokens "
                "WHERE token_hash = %s FOR UPDATE",
                (_hash(token),),
            ).fetchone()
            if row is None:
                raise InvalidRefreshToken("refresh token is not known")
            now = self._now()
            if row["revoked_at"] is not None:
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
                    (now, row["family_id"]),
                )
                reused = True
            elif row["expires_at"] <= now:
                raise InvalidRefreshToken("refresh token has expired; sign in again")
            else:
                successor_id, issued = self._insert(conn, row["user_id"], row["family_id"])
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = %s, replaced_by = %s WHERE id = %s",
                    (now, successor_id, row["id"]),
                )
                return int(row["user_id"]), issued
        # Outside the transaction so that the family revocation above is committed.
        if reused:
            logger.warning("refresh token reuse: family revoked", extra={"user_id": row["user_id"]})
        raise InvalidRefreshToken("refresh token was already used; all sessions of this sign-in are revoked")

    def revoke(self, token: str, *, user_id: int) -> bool:
        """Log out: revoke the token's whole family (only if it belongs to `user_id`)."""
        with self._db.connection() as conn:
            cur = conn.execute(
                """
                UPDATE refresh_tokens SET revoked_at = %s
                WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = %s AND user_id = %s)
                  AND revoked_at IS NULL
                """,
                (self._now(), _hash(token), user_id),
            )
            return cur.rowcount > 0

    def revoke_all(self, user_id: int) -> int:
        with self._db.connection() as conn:
            cur = conn.execute(
                "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
                (self._now(), user_id),
            )
            return cur.rowcount
