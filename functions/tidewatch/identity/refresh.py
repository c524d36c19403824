"""Refresh tokens: opaque, stored hashed (tidewatch.identity.repository), rotating on every use, revocable.

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

from tidewatch.identity.errors import InvalidRefreshToken
from tidewatch.identity.repository import RefreshTokenRecords, RefreshTokenRepository
from tidewatch.observability import logger


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    expires_at: datetime


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class RefreshTokens:
    def __init__(self, tokens: RefreshTokenRepository, *, lifetime_seconds: int, clock: Callable[[], float]) -> None:
        self._tokens = tokens
        self._lifetime = timedelta(seconds=lifetime_seconds)
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _insert(
        self, records: RefreshTokenRecords, user_id: int, family_id: uuid.UUID
    ) -> tuple[uuid.UUID, IssuedRefreshToken]:
        token_id = uuid.uuid4()
        token = secrets.token_urlsafe(32)
        now = self._now()
        expires_at = now + self._lifetime
        records.insert(token_id, user_id, family_id, _hash(token), now, expires_at)
        return token_id, IssuedRefreshToken(token=token, expires_at=expires_at)

    def issue(self, user_id: int) -> IssuedRefreshToken:
        """A new token starting a new family (a new sign-in)."""
        with self._tokens.transaction() as records:
            return self._insert(records, user_id, uuid.uuid4())[1]

    def rotate(self, token: str) -> tuple[int, IssuedRefreshToken]:
        """Spend `token`: returns its user and the successor. A replayed token revokes its family."""
        reused = False
        with self._tokens.transaction() as records:
            stored = records.find_for_update(_hash(token))
            if stored is None:
                raise InvalidRefreshToken("refresh token is not known")
            now = self._now()
            if stored.revoked_at is not None:
                records.revoke_family(stored.family_id, now)
                reused = True
            elif stored.expires_at <= now:
                raise InvalidRefreshToken("refresh token has expired; sign in again")
            else:
                successor_id, issued = self._insert(records, stored.user_id, stored.family_id)
                records.replace(stored.id, successor_id, now)
                return stored.user_id, issued
        # Outside the transaction so that the family revocation above is committed.
        if reused:
            logger.warning("refresh token reuse: family revoked", extra={"user_id": stored.user_id})
        raise InvalidRefreshToken("refresh token was already used; all sessions of this sign-in are revoked")

    def revoke(self, token: str, *, user_id: int) -> bool:
        """Log out: revoke the token's whole family (only if it belongs to `user_id`)."""
        with self._tokens.transaction() as records:
            return records.revoke_family_of(_hash(token), user_id, self._now())

    def revoke_all(self, user_id: int) -> int:
        with self._tokens.transaction() as records:
            return records.revoke_all(user_id, self._now())
