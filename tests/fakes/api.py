"""An in-memory `IdempotencyRepository` (api.repository): one record per (user, key), in progress
until completed, dropped when released or older than the kept hours at the user's next claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.unit_of_work import InMemoryUnitOfWork
from tidewatch.db import DatabaseUnavailable


class InMemoryIdempotencyRecords:
    def __init__(self, owner: InMemoryIdempotencyKeys) -> None:
        self._owner = owner

    def claim(self, *, user_id: int, key: str, route: str, fingerprint: str, keep_hours: int) -> bool:
        records = self._owner.records
        cutoff = self._owner.now - timedelta(hours=keep_hours)
        for held in [k for k, r in records.items() if k[0] == user_id and r["created_at"] < cutoff]:
            del records[held]
        if (user_id, key) in records:
            return False
        records[(user_id, key)] = {
            "route": route,
            "request_hash": fingerprint,
            "status": None,
            "headers": None,
            "body": None,
            "created_at": self._owner.now,
        }
        return True

    def load(self, *, user_id: int, key: str) -> dict[str, Any] | None:
        row = self._owner.records.get((user_id, key))
        if row is None:
            return None
        return {k: row[k] for k in ("route", "request_hash", "status", "headers", "body")}

    def release(self, *, user_id: int, key: str) -> None:
        self._owner.records.pop((user_id, key), None)

    def complete(self, *, user_id: int, key: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        row = self._owner.records.get((user_id, key))
        if row is not None:
            # Headers come back as JSON arrays, as from the jsonb column.
            row.update(status=status, headers=[list(h) for h in headers], body=body)


class InMemoryIdempotencyKeys(InMemoryUnitOfWork[InMemoryIdempotencyRecords]):
    """Records keyed by (user id, key); `down` makes every session fail as an unreachable database."""

    def __init__(self, now: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.records: dict[tuple[int, str], dict[str, Any]] = {}
        self.now = now
        self.down = False

    def _records(self) -> InMemoryIdempotencyRecords:
        if self.down:
            raise DatabaseUnavailable("the database did not answer")
        return InMemoryIdempotencyRecords(self)
