"""An in-memory `DestinationsRepository` (tidewatch.alerts.repository).

Rows look as the Postgres adapter returns them: every column of `alert_destinations` plus
`suppressed`; the table's unique keys raise psycopg's UniqueViolation, and a unit of work that
raises is rolled back, as a transaction would be.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class _State:
    users: set[int] = field(default_factory=set)
    destinations: dict[int, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code hash -> row
    preferences: dict[int, dict[str, Any]] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    next_id: int = 1


class InMemoryDestinationRecords:
    def __init__(self, state: _State, now: datetime) -> None:
        self.state = state
        self._now = now

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        suppressed = row["kind"] == "email" and row["target"].lower() in self.state.suppressed
        return {**row, "suppressed": suppressed}

    def user_destinations(self, user_id: int) -> list[dict[str, Any]]:
        return [self._row(r) for _, r in sorted(self.state.destinations.items()) if r["user_id"] == user_id]

    def user_destination(self, user_id: int, destination_id: int) -> dict[str, Any] | None:
        row = self.state.destinations.get(destination_id)
        return self._row(row) if row is not None and row["user_id"] == user_id else None

    def destination_count(self, user_id: int) -> int:
        return sum(1 for r in self.state.destinations.values() if r["user_id"] == user_id)

    def _add(
        self, user_id: int, kind: str, label: str, target: str, secret: Any, is_default: bool, verified: bool
    ) -> dict[str, Any]:
        if user_id not in self.state.users:
            raise psycopg.errors.ForeignKeyViolation("no such user")
        for r in self.state.destinations.values():
            if (r["user_id"], r["kind"], r["target"]) == (user_id, kind, target) or (
                kind == "telegram" and r["kind"] == "telegram" and r["target"] == target
            ):
                raise psycopg.errors.UniqueViolation("duplicate destination")
        destination_id = self.state.next_id
        self.state.next_id += 1
        row = {
            "id": destination_id,
            "user_id": user_id,
            "kind": kind,
            "label": label,
            "target": target,
            "secret": secret,
            "is_default": is_default,
            "verified_at": self._now if verified else None,
            "unsubscribed_at": None,
            "disabled_reason": None,
            "created_at": self._now,
        }
        self.state.destinations[destination_id] = row
        return dict(row)

    def insert_destination(
        self,
        *,
        user_id: int,
        kind: str,
        label: str,
        target: str,
        secret: str,
        is_default: bool,
        verified: bool,
    ) -> dict[str, Any]:
        return self._add(user_id, kind, label, target, secret, is_default, verified)

    def drop_destination(self, destination_id: int) -> None:
        self.state.destinations.pop(destination_id, None)

    def update_destination(
        self, user_id: int, destination_id: int, *, label: str | None, is_default: bool | None
    ) -> bool:
        row = self.state.destinations.get(destination_id)
        if row is None or row["user_id"] != user_id:
            return False
        row["label"] = row["label"] if label is None else label
        row["is_default"] = row["is_default"] if is_default is None else is_default
        return True

    def delete_user_destination(self, user_id: int, destination_id: int) -> bool:
        row = self.state.destinations.get(destination_id)
        if row is None or row["user_id"] != user_id:
            return False
        del self.state.destinations[destination_id]
        return True

    def email_destination(self, destination_id: int) -> dict[str, Any] | None:
        row = self.state.destinations.get(destination_id)
        return {"user_id": row["user_id"], "target": row["target"]} if row and row["kind"] == "email" else None

    def mark_verified(self, destination_id: int) -> None:
        row = self.state.destinations[destination_id]
        row["verified_at"] = row["verified_at"] or self._now

    def unsubscribe_email(self, destination_id: int) -> str | None:
        row = self.state.destinations.get(destination_id)
        if row is None or row["kind"] != "email":
            return None
        row["unsubscribed_at"] = row["unsubscribed_at"] or self._now
        return str(row["target"])

    def resubscribe(self, user_id: int, destination_id: int) -> None:
        row = self.state.destinations.get(destination_id)
        if row is not None and row["user_id"] == user_id:
            row["unsubscribed_at"] = row["disabled_reason"] = None

    def insert_telegram_code(self, code_hash: str, user_id: int, label: str, expires_at: datetime) -> None:
        if code_hash in self.state.codes:
            raise psycopg.errors.UniqueViolation("duplicate code")
        self.state.codes[code_hash] = {"user_id": user_id, "label": label, "expires_at": expires_at, "used_at": None}

    def lock_telegram_code(self, code_hash: str) -> dict[str, Any] | None:
        row = self.state.codes.get(code_hash)
        return dict(row) if row is not None else None

    def use_telegram_code(self, code_hash: str, at: datetime) -> None:
        self.state.codes[code_hash]["used_at"] = at

    def link_telegram_chat(self, user_id: int, label: str, chat_id: str) -> dict[str, Any]:
        for destination_id, row in list(self.state.destinations.items()):
            if row["kind"] == "telegram" and row["target"] == chat_id:
                del self.state.destinations[destination_id]
        return self._add(user_id, "telegram", label, chat_id, None, False, True)

    def preferences_row(self, user_id: int) -> dict[str, Any] | None:
        row = self.state.preferences.get(user_id)
        return dict(row) if row is not None else None

    def save_preferences(
        self,
        user_id: int,
        *,
        timezone: str,
        quiet_start: str | None,
        quiet_end: str | None,
        quiet_min_severity: str,
    ) -> None:
        def at(text: str | None) -> Any:
            return datetime.strptime(text, "%H:%M").time() if text else None

        self.state.preferences[user_id] = {
            "user_id": user_id,
            "timezone": timezone,
            "quiet_start": at(quiet_start),
            "quiet_end": at(quiet_end),
            "quiet_min_severity": quiet_min_severity,
        }

    def user_deliveries(
        self, user_id: int, *, destination_id: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return [], []


class InMemoryDestinations:
    """Users, their destinations, Telegram link codes, preferences and suppressed addresses."""

    def __init__(self, now: datetime = T0) -> None:
        self.state = _State()
        self.now = now

    def add_user(self) -> int:
        user_id = self.state.next_id
        self.state.next_id += 1
        self.state.users.add(user_id)
        return user_id

    def suppress(self, addresses: Sequence[str]) -> None:
        self.state.suppressed.update(a.lower() for a in addresses)

    @contextmanager
    def transaction(self) -> Iterator[InMemoryDestinationRecords]:
        saved = copy.deepcopy(self.state)
        try:
            yield InMemoryDestinationRecords(self.state, self.now)
        except BaseException:
            self.state = saved
            raise

    @contextmanager
    def session(self) -> Iterator[InMemoryDestinationRecords]:
        yield InMemoryDestinationRecords(self.state, self.now)
