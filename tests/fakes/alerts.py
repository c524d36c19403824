"""In-memory `DestinationsRepository`, `DeliveriesRepository`, `OutboxRepository` and
`FiringContexts` (tidewatch.alerts.repository).

Rows look as the Postgres adapter returns them: every column of `alert_destinations` plus
`suppressed`; the table's unique keys raise psycopg's UniqueViolation, and a unit of work that
raises is rolled back, as a transaction would be. `InMemoryFiringContexts` answers as the firing
context's query (contract test tests/integration/alerts/test_firing_contexts_contract.py).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import psycopg

from tests.fakes.postgres_values import jsonb_value, text_value
from tests.fakes.unit_of_work import InMemoryUnitOfWork

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


class InMemoryDestinations(InMemoryUnitOfWork[InMemoryDestinationRecords]):
    """Users, their destinations, Telegram link codes, preferences and suppressed addresses."""

    rolled_back = ("state",)

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

    def _records(self) -> InMemoryDestinationRecords:
        return InMemoryDestinationRecords(self.state, self.now)


class InMemoryDeliveryRecords:
    def __init__(self, owner: InMemoryDeliveries) -> None:
        self._owner = owner

    def claim_delivery(self, delivery_id: int, *, now: datetime, lease_until: datetime) -> dict[str, Any] | None:
        row = self._owner.rows.get(delivery_id)
        if row is None:
            return None
        due = row["status"] == "pending" and row["next_attempt_at"] <= now
        expired = row["status"] == "sending" and row["lease_until"] is not None and row["lease_until"] < now
        if not (due or expired):
            return None
        row.update(status="sending", attempt=row["attempt"] + 1, lease_until=lease_until)
        d = self._owner.destinations[row["destination_id"]]
        return {
            "id": delivery_id,
            "attempt": row["attempt"],
            "message": row["message"],
            "severity": row["severity"],
            "destination_id": d["id"],
            "user_id": d["user_id"],
            "kind": d["kind"],
            "label": d["label"],
            "target": d["target"],
            "secret": d.get("secret"),
            "unsubscribed_at": d.get("unsubscribed_at"),
            "disabled_reason": d.get("disabled_reason"),
            "verified_at": d.get("verified_at", T0),
            "suppressed": d["kind"] == "email" and d["target"].lower() in self._owner.suppressed,
        }

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        attempt: int,
        outcome: str,
        response_code: int | None,
        response: str,
        latency_ms: float,
    ) -> None:
        self._owner.attempts.append(
            {"delivery_id": delivery_id, "attempt": attempt, "outcome": outcome, "response_code": response_code}
        )

    def set_delivery_state(
        self, delivery_id: int, *, status: str, next_attempt_at: datetime, error: str | None
    ) -> None:
        self._owner.rows[delivery_id].update(
            status=status, next_attempt_at=next_attempt_at, lease_until=None, last_error=error
        )

    def disable_destination(self, destination_id: int, reason: str) -> None:
        self._owner.destinations[destination_id]["disabled_reason"] = reason

    def suppress_address(self, address: str, reason: str, detail: str) -> None:
        self._owner.suppressed.add(address.lower())

    def due_deliveries(self, *, now: datetime, limit: int) -> list[int]:
        due = [
            (r["next_attempt_at"], i)
            for i, r in self._owner.rows.items()
            if (r["status"] == "pending" and r["next_attempt_at"] <= now)
            or (r["status"] == "sending" and r["lease_until"] is not None and r["lease_until"] < now)
        ]
        return [i for _, i in sorted(due)[:limit]]


class InMemoryDeliveries(InMemoryUnitOfWork[InMemoryDeliveryRecords]):
    """A `DeliveriesRepository`: outbox rows, their destinations, attempts and suppressed addresses."""

    rolled_back = ("rows", "destinations", "attempts", "suppressed")

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.destinations: dict[int, dict[str, Any]] = {}
        self.attempts: list[dict[str, Any]] = []
        self.suppressed: set[str] = set()
        self._next = 1

    def add_destination(self, kind: str, target: str, *, user_id: int = 1, **columns: Any) -> int:
        destination_id = self._next
        self._next += 1
        self.destinations[destination_id] = {
            "id": destination_id,
            "user_id": user_id,
            "kind": kind,
            "label": kind,
            "target": target,
            **columns,
        }
        return destination_id

    def add_delivery(self, destination_id: int, message: dict[str, Any], *, due: datetime = T0) -> int:
        delivery_id = self._next
        self._next += 1
        self.rows[delivery_id] = {
            "destination_id": destination_id,
            "status": "pending",
            "attempt": 0,
            "next_attempt_at": due,
            "lease_until": None,
            "last_error": None,
            "message": message,
            "severity": message.get("severity", "info"),
        }
        return delivery_id

    def _records(self) -> InMemoryDeliveryRecords:
        return InMemoryDeliveryRecords(self)


class InMemoryOutboxRecords:
    def __init__(self, owner: InMemoryOutbox) -> None:
        self._owner = owner

    def quiet_hours_row(self, user_id: int) -> dict[str, Any] | None:
        self._owner.quiet_hours_reads += 1
        row = self._owner.preferences.get(user_id)
        return dict(row) if row is not None else None

    def enqueue_deliveries(
        self,
        *,
        user_id: int,
        destination_ids: Sequence[int] | None,
        execution_id: int | None,
        idempotency_key: str,
        rule_id: int | None,
        severity: str,
        message: str,
        next_attempt_at: datetime,
        note: str | None,
    ) -> list[dict[str, Any]]:
        # As the one statement: the user's usable destinations (named, or the default set), a row
        # per destination unless the key already has one, then the key's earlier rows still pending.
        dest = sorted(
            d["id"]
            for d in self._owner.destinations.values()
            if d["user_id"] == user_id
            and d["verified_at"] is not None
            and d["unsubscribed_at"] is None
            and d["disabled_reason"] is None
            and (d["is_default"] if destination_ids is None else d["id"] in destination_ids)
        )
        earlier = [
            {"id": i, "next_attempt_at": r["next_attempt_at"]}
            for i, r in self._owner.rows.items()
            if r["idempotency_key"] == idempotency_key and r["destination_id"] in dest and r["status"] == "pending"
        ]
        taken = {(r["idempotency_key"], r["destination_id"]) for r in self._owner.rows.values()}
        new = []
        for destination_id in dest:
            if (idempotency_key, destination_id) in taken:
                continue
            delivery_id = self._owner.next_id
            self._owner.next_id += 1
            self._owner.rows[delivery_id] = {
                "execution_id": execution_id,
                "idempotency_key": idempotency_key,
                "destination_id": destination_id,
                "user_id": user_id,
                "rule_id": rule_id,
                "severity": severity,
                "message": message,
                "status": "pending",
                "next_attempt_at": next_attempt_at,
                "last_error": note,
            }
            new.append({"id": delivery_id, "next_attempt_at": next_attempt_at})
        return sorted(new + earlier, key=lambda r: r["id"])


class InMemoryOutbox(InMemoryUnitOfWork[InMemoryOutboxRecords]):
    """An `OutboxRepository`: destinations, quiet-hours preferences and the outbox rows written."""

    def __init__(self) -> None:
        self.destinations: dict[int, dict[str, Any]] = {}
        self.preferences: dict[int, dict[str, Any]] = {}
        self.rows: dict[int, dict[str, Any]] = {}
        self.quiet_hours_reads = 0
        self.next_id = 1

    def add_destination(self, user_id: int, *, is_default: bool = True, **columns: Any) -> int:
        """A verified, subscribed destination of the user (columns override)."""
        destination_id = self.next_id
        self.next_id += 1
        self.destinations[destination_id] = {
            "id": destination_id,
            "user_id": user_id,
            "is_default": is_default,
            "verified_at": T0,
            "unsubscribed_at": None,
            "disabled_reason": None,
            **columns,
        }
        return destination_id

    def set_quiet_hours(self, user_id: int, timezone: str, start: time, end: time, min_severity: str) -> None:
        self.preferences[user_id] = {
            "timezone": timezone,
            "quiet_start": start,
            "quiet_end": end,
            "quiet_min_severity": min_severity,
        }

    def _records(self) -> InMemoryOutboxRecords:
        return InMemoryOutboxRecords(self)


class InMemoryFiringContexts:
    """A `FiringContexts` over rules (id -> definition), prepared transactions and preferences,
    answering as its one query does: a rule is found by id whoever owns it, the transaction and
    the quiet hours are those of the user asked about, and all four preference columns are None
    without a preferences row. Definitions read back as stored jsonb reads (tests/fakes/postgres_values)."""

    def __init__(self) -> None:
        self.rules: dict[int, Any] = {}
        self.transactions: dict[tuple[int, str], str] = {}  # (user id, idempotency key) -> id
        self.preferences: dict[int, dict[str, Any]] = {}
        self.reads = 0

    def add_rule(self, rule_id: int, definition: Any) -> None:
        self.rules[rule_id] = jsonb_value(definition)

    def delete_rule(self, rule_id: int) -> None:
        del self.rules[rule_id]

    def add_transaction(self, user_id: int, idempotency_key: str, transaction_id: uuid.UUID) -> str:
        if (user_id, idempotency_key) in self.transactions:
            raise psycopg.errors.UniqueViolation("duplicate key value violates unique constraint")
        self.transactions[(user_id, text_value(idempotency_key))] = str(transaction_id)
        return str(transaction_id)

    def set_preferences(
        self,
        user_id: int,
        *,
        timezone: str = "UTC",
        quiet_start: time | None = None,
        quiet_end: time | None = None,
        quiet_min_severity: str = "critical",
    ) -> None:
        self.preferences[user_id] = {
            "timezone": timezone,
            "quiet_start": quiet_start,
            "quiet_end": quiet_end,
            "quiet_min_severity": quiet_min_severity,
        }

    def firing_context(self, *, rule_id: int, user_id: int, transaction_key: str) -> dict[str, Any] | None:
        self.reads += 1
        text_value(transaction_key)
        if rule_id not in self.rules:
            return None
        quiet = self.preferences.get(
            user_id, dict.fromkeys(("timezone", "quiet_start", "quiet_end", "quiet_min_severity"))
        )
        return {
            "definition": copy.deepcopy(self.rules[rule_id]),
            "transaction_id": self.transactions.get((user_id, transaction_key)),
            **quiet,
        }
