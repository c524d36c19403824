"""An in-memory `RefreshTokenRepository` (tidewatch.identity.repository); a unit of work that
raises is rolled back, as a transaction would be."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from tests.fakes.unit_of_work import InMemoryUnitOfWork
from tidewatch.identity.repository import RefreshTokenRecords, StoredRefreshToken


@dataclass(frozen=True)
class _Token:
    stored: StoredRefreshToken
    token_hash: bytes
    replaced_by: uuid.UUID | None = None


class InMemoryRefreshTokens(InMemoryUnitOfWork[RefreshTokenRecords]):
    rolled_back = ("tokens",)

    def __init__(self) -> None:
        self.tokens: dict[uuid.UUID, _Token] = {}

    def _records(self) -> RefreshTokenRecords:
        return _Records(self.tokens)


class _Records:
    def __init__(self, tokens: dict[uuid.UUID, _Token]) -> None:
        self._tokens = tokens

    def _revoke(self, token: _Token, at: datetime) -> None:
        self._tokens[token.stored.id] = replace(token, stored=replace(token.stored, revoked_at=at))

    def insert(
        self,
        token_id: uuid.UUID,
        user_id: int,
        family_id: uuid.UUID,
        token_hash: bytes,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        stored = StoredRefreshToken(
            id=token_id, user_id=user_id, family_id=family_id, expires_at=expires_at, revoked_at=None
        )
        self._tokens[token_id] = _Token(stored, token_hash)

    def find_for_update(self, token_hash: bytes) -> StoredRefreshToken | None:
        return next((t.stored for t in self._tokens.values() if t.token_hash == token_hash), None)

    def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        for token in list(self._tokens.values()):
            if token.stored.family_id == family_id and token.stored.revoked_at is None:
                self._revoke(token, at)

    def replace(self, token_id: uuid.UUID, successor_id: uuid.UUID, at: datetime) -> None:
        token = self._tokens[token_id]
        self._tokens[token_id] = replace(token, stored=replace(token.stored, revoked_at=at), replaced_by=successor_id)

    def revoke_family_of(self, token_hash: bytes, user_id: int, at: datetime) -> bool:
        owned = [t for t in self._tokens.values() if t.token_hash == token_hash and t.stored.user_id == user_id]
        if not owned:
            return False
        live = [
            t
            for t in self._tokens.values()
            if t.stored.family_id == owned[0].stored.family_id and t.stored.revoked_at is None
        ]
        for token in live:
            self._revoke(token, at)
        return bool(live)

    def revoke_all(self, user_id: int, at: datetime) -> int:
        live = [t for t in self._tokens.values() if t.stored.user_id == user_id and t.stored.revoked_at is None]
        for token in live:
            self._revoke(token, at)
        return len(live)
