"""Alert data in PostgreSQL: the delivery outbox (`alert_deliveries`, `alert_delivery_attempts`,
`email_suppressions`), the users' destinations (`alert_destinations`) and preferences
(`alert_preferences`), and what a firing's alert reads across tables (rules, transactions)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from tidewatch.db import Connection, Database, UnitOfWork


def firing_context(conn: Connection, *, rule_id: int, user_id: int, transaction_key: str) -> dict[str, Any] | None:
    """The rule's definition, the id of the transaction its firing prepared (by the wallet's
    idempotency key) and the owner's quiet hours, in one round trip; None without the rule."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT r.definition, (SELECT t.id::text FROM transactions t WHERE t.user_id = %s "
        "AND t.idempotency_key = %s) AS transaction_id, p.timezone, p.quiet_start, p.quiet_end, "
        "p.quiet_min_severity FROM rules r LEFT JOIN alert_preferences p ON p.user_id = %s WHERE r.id = %s",
        (user_id, transaction_key, user_id, rule_id),
    ).fetchone()
    return row


class FiringContexts(Protocol):
    """What the `deliver` action reads of a firing (`tidewatch.alerts.action.AlertDispatcher`)."""

    def firing_context(self, *, rule_id: int, user_id: int, transaction_key: str) -> dict[str, Any] | None:
        """As `firing_context`: definition, transaction_id, timezone, quiet_start, quiet_end,
        quiet_min_severity; None without the rule."""
        ...


class PostgresFiringContexts:
    """`FiringContexts` over a database, one connection a read."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def firing_context(self, *, rule_id: int, user_id: int, transaction_key: str) -> dict[str, Any] | None:
        with self._db.connection() as conn:
            return firing_context(conn, rule_id=rule_id, user_id=user_id, transaction_key=transaction_key)


def firing_contexts(contexts: FiringContexts | Database) -> FiringContexts:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresFiringContexts(contexts) if isinstance(contexts, Database) else contexts


# ---- The delivery outbox ----------------------------------------------------------------------


def quiet_hours_row(conn: Connection, user_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(
        "SELECT timezone, quiet_start, quiet_end, quiet_min_severity FROM alert_preferences WHERE user_id = %s",
        (user_id,),
    ).fetchone()
    return row


def enqueue_deliveries(
    conn: Connection,
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
    """Rows (id, next_attempt_at) for the user's usable destinations (named, or the default set):
    the new ones and those of an earlier try of the same key still pending."""
    # One statement (atomic on its own): the user's usable destinations, the new rows, and
    # the rows of an earlier try of the same firing that are still to send. The outer
    # SELECT sees the table before the INSERT, so a row is never listed twice.
    return conn.execute(
        "WITH dest AS (SELECT id FROM alert_destinations WHERE user_id = %s AND verified_at IS NOT NULL "
        "AND unsubscribed_at IS NULL AND disabled_reason IS NULL "
        "AND (CASE WHEN %s::bigint[] IS NULL THEN is_default ELSE id = ANY(%s::bigint[]) END)), "
        "ins AS (INSERT INTO alert_deliveries (execution_id, idempotency_key, destination_id, user_id, "
        "rule_id, severity, message, next_attempt_at, last_error) "
        "SELECT %s, %s, dest.id, %s, %s, %s, %s::jsonb, %s, %s FROM dest ORDER BY dest.id "
        "ON CONFLICT (idempotency_key, destination_id) DO NOTHING RETURNING id, next_attempt_at) "
        "SELECT id, next_attempt_at FROM ins UNION ALL "
        "SELECT a.id, a.next_attempt_at FROM alert_deliveries a JOIN dest ON dest.id = a.destination_id "
        "WHERE a.idempotency_key = %s AND a.status = 'pending' ORDER BY id",
        (
            user_id,
            destination_ids,
            destination_ids,
            execution_id,
            idempotency_key,
            user_id,
            rule_id,
            severity,
            message,
            next_attempt_at,
            note,
            idempotency_key,
        ),
    ).fetchall()


class OutboxRecords(Protocol):
    """What `Outbox.enqueue` reads and writes, over one connection (each statement on its own)."""

    def quiet_hours_row(self, user_id: int) -> dict[str, Any] | None:
        """The user's timezone, quiet_start, quiet_end and quiet_min_severity; None without preferences."""
        ...

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
        """As `enqueue_deliveries`: rows (id, next_attempt_at) new or still pending for the key."""
        ...


class OutboxRepository(Protocol):
    """`session()`: one connection, each statement on its own (the enqueue is one statement)."""

    def session(self) -> AbstractContextManager[OutboxRecords]: ...


class PostgresOutboxRecords:
    """`OutboxRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def quiet_hours_row(self, user_id: int) -> dict[str, Any] | None:
        return quiet_hours_row(self.conn, user_id)

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
        return enqueue_deliveries(
            self.conn,
            user_id=user_id,
            destination_ids=destination_ids,
            execution_id=execution_id,
            idempotency_key=idempotency_key,
            rule_id=rule_id,
            severity=severity,
            message=message,
            next_attempt_at=next_attempt_at,
            note=note,
        )


class PostgresOutbox(UnitOfWork[OutboxRecords]):
    """`OutboxRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresOutboxRecords)


def claim_delivery(
    conn: Connection, delivery_id: int, *, now: datetime, lease_until: datetime
) -> dict[str, Any] | None:
    """Lease the delivery when due (pending and due, or sending with an expired lease), one attempt
    more; the row with its destination and whether the address is suppressed, else None."""
    row: dict[str, Any] | None = conn.execute(
        "UPDATE alert_deliveries a SET status = 'sending', attempt = a.attempt + 1, "
        "lease_until = %s, updated_at = now() FROM alert_destinations d "
        "WHERE a.id = %s AND d.id = a.destination_id AND ((a.status = 'pending' AND a.next_attempt_at <= %s) "
        "OR (a.status = 'sending' AND a.lease_until < %s)) "
        "RETURNING a.id, a.attempt, a.message, a.severity, d.id AS destination_id, d.user_id, d.kind, "
        "d.label, d.target, d.secret, d.unsubscribed_at, d.disabled_reason, d.verified_at, "
        "EXISTS (SELECT 1 FROM email_suppressions s WHERE d.kind = 'email' AND s.address = lower(d.target)) "
        "AS suppressed",
        (lease_until, delivery_id, now, now),
    ).fetchone()
    return row


def record_delivery_attempt(
    conn: Connection,
    delivery_id: int,
    *,
    attempt: int,
    outcome: str,
    response_code: int | None,
    response: str,
    latency_ms: float,
) -> None:
    conn.execute(
        "INSERT INTO alert_delivery_attempts (delivery_id, attempt, outcome, response_code, response, "
        "latency_ms) VALUES (%s, %s, %s, %s, %s, %s)",
        (delivery_id, attempt, outcome, response_code, response, latency_ms),
    )


def set_delivery_state(
    conn: Connection, delivery_id: int, *, status: str, next_attempt_at: datetime, error: str | None
) -> None:
    conn.execute(
        "UPDATE alert_deliveries SET status = %s, next_attempt_at = %s, lease_until = NULL, "
        "last_error = %s, updated_at = now() WHERE id = %s",
        (status, next_attempt_at, error, delivery_id),
    )


def disable_destination(conn: Connection, destination_id: int, reason: str) -> None:
    conn.execute("UPDATE alert_destinations SET disabled_reason = %s WHERE id = %s", (reason, destination_id))


def suppress_address(conn: Connection, address: str, reason: str, detail: str) -> None:
    """Never email `address` again (kept lower-case); an address already suppressed stays as it is."""
    conn.execute(
        "INSERT INTO email_suppressions (address, reason, detail) VALUES (lower(%s), %s, %s::jsonb) "
        "ON CONFLICT (address) DO NOTHING",
        (address, reason, detail),
    )


def due_deliveries(conn: Connection, *, now: datetime, limit: int) -> list[int]:
    rows = conn.execute(
        "SELECT id FROM alert_deliveries WHERE (status = 'pending' AND next_attempt_at <= %s) "
        "OR (status = 'sending' AND lease_until < %s) ORDER BY next_attempt_at LIMIT %s",
        (now, now, limit),
    ).fetchall()
    return [int(r["id"]) for r in rows]


class DeliveryRecords(Protocol):
    """The outbox rows a delivery worker claims and records, within one unit of work."""

    def claim_delivery(self, delivery_id: int, *, now: datetime, lease_until: datetime) -> dict[str, Any] | None:
        """As `claim_delivery`: the leased row with its destination, None when not due."""
        ...

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        attempt: int,
        outcome: str,
        response_code: int | None,
        response: str,
        latency_ms: float,
    ) -> None: ...

    def set_delivery_state(
        self, delivery_id: int, *, status: str, next_attempt_at: datetime, error: str | None
    ) -> None: ...

    def disable_destination(self, destination_id: int, reason: str) -> None: ...

    def suppress_address(self, address: str, reason: str, detail: str) -> None: ...

    def due_deliveries(self, *, now: datetime, limit: int) -> list[int]: ...


class DeliveriesRepository(Protocol):
    """`transaction()`: all or nothing; `session()`: one connection, each statement on its own."""

    def transaction(self) -> AbstractContextManager[DeliveryRecords]: ...

    def session(self) -> AbstractContextManager[DeliveryRecords]: ...


class PostgresDeliveryRecords:
    """`DeliveryRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim_delivery(self, delivery_id: int, *, now: datetime, lease_until: datetime) -> dict[str, Any] | None:
        return claim_delivery(self.conn, delivery_id, now=now, lease_until=lease_until)

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
        record_delivery_attempt(
            self.conn,
            delivery_id,
            attempt=attempt,
            outcome=outcome,
            response_code=response_code,
            response=response,
            latency_ms=latency_ms,
        )

    def set_delivery_state(
        self, delivery_id: int, *, status: str, next_attempt_at: datetime, error: str | None
    ) -> None:
        set_delivery_state(self.conn, delivery_id, status=status, next_attempt_at=next_attempt_at, error=error)

    def disable_destination(self, destination_id: int, reason: str) -> None:
        disable_destination(self.conn, destination_id, reason)

    def suppress_address(self, address: str, reason: str, detail: str) -> None:
        suppress_address(self.conn, address, reason, detail)

    def due_deliveries(self, *, now: datetime, limit: int) -> list[int]:
        return due_deliveries(self.conn, now=now, limit=limit)


class PostgresDeliveries(UnitOfWork[DeliveryRecords]):
    """`DeliveriesRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresDeliveryRecords)


# ---- Destinations, Telegram link codes, preferences, the delivery log -------------------------

# Every destination column, and whether its address is suppressed (email only).
_DESTINATION = (
    "SELECT d.*, EXISTS (SELECT 1 FROM email_suppressions s WHERE d.kind = 'email' "
    "AND s.address = lower(d.target)) AS suppressed FROM alert_destinations d "
)


class DestinationRecords(Protocol):
    """A user's destinations, Telegram link codes, preferences and delivery log, in one unit of
    work. Rows are dicts with the table's columns; a destination row also says `suppressed`."""

    def user_destinations(self, user_id: int) -> list[dict[str, Any]]: ...

    def user_destination(self, user_id: int, destination_id: int) -> dict[str, Any] | None: ...

    def destination_count(self, user_id: int) -> int: ...

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
        """The new row (verified now when `verified`); raises psycopg's UniqueViolation for a target
        already linked and ForeignKeyViolation for an unknown user."""
        ...

    def drop_destination(self, destination_id: int) -> None: ...

    def update_destination(
        self, user_id: int, destination_id: int, *, label: str | None, is_default: bool | None
    ) -> bool:
        """Change what is given (None keeps the value); False when the user has no such destination."""
        ...

    def delete_user_destination(self, user_id: int, destination_id: int) -> bool: ...

    def email_destination(self, destination_id: int) -> dict[str, Any] | None:
        """The owner and address of an email destination."""
        ...

    def mark_verified(self, destination_id: int) -> None:
        """Verified now, or when it first was."""
        ...

    def unsubscribe_email(self, destination_id: int) -> str | None:
        """Stop an email destination (kept as first unsubscribed); its address, None without it."""
        ...

    def resubscribe(self, user_id: int, destination_id: int) -> None: ...

    def insert_telegram_code(self, code_hash: str, user_id: int, label: str, expires_at: datetime) -> None: ...

    def lock_telegram_code(self, code_hash: str) -> dict[str, Any] | None:
        """The code's owner, label, expiry and use, locked until the transaction ends."""
        ...

    def use_telegram_code(self, code_hash: str, at: datetime) -> None: ...

    def link_telegram_chat(self, user_id: int, label: str, chat_id: str) -> dict[str, Any]:
        """The chat as the user's verified Telegram destination; a link of the chat to anyone else
        is dropped first (only the new owner holds the chat)."""
        ...

    def preferences_row(self, user_id: int) -> dict[str, Any] | None: ...

    def save_preferences(
        self,
        user_id: int,
        *,
        timezone: str,
        quiet_start: str | None,
        quiet_end: str | None,
        quiet_min_severity: str,
    ) -> None: ...

    def user_deliveries(
        self, user_id: int, *, destination_id: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The user's latest deliveries (of one destination when given), newest first, and their
        attempts in order."""
        ...


class DestinationsRepository(Protocol):
    """`transaction()`: all or nothing; `session()`: one connection, each statement on its own."""

    def transaction(self) -> AbstractContextManager[DestinationRecords]: ...

    def session(self) -> AbstractContextManager[DestinationRecords]: ...


class PostgresDestinationRecords:
    """`DestinationRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def user_destinations(self, user_id: int) -> list[dict[str, Any]]:
        return self.conn.execute(_DESTINATION + "WHERE d.user_id = %s ORDER BY d.id", (user_id,)).fetchall()

    def user_destination(self, user_id: int, destination_id: int) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(
            _DESTINATION + "WHERE d.id = %s AND d.user_id = %s", (destination_id, user_id)
        ).fetchone()
        return row

    def destination_count(self, user_id: int) -> int:
        row = self.conn.execute(
            "SELECT count(*) AS n FROM alert_destinations WHERE user_id = %s", (user_id,)
        ).fetchone()
        return 0 if row is None else int(row["n"])

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
        """The new row (verified now when `verified`); raises psycopg's UniqueViolation for a target
        already linked and ForeignKeyViolation for an unknown user."""
        row: dict[str, Any] | None = self.conn.execute(
            "INSERT INTO alert_destinations (user_id, kind, label, target, secret, is_default, verified_at) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s, CASE WHEN %s THEN now() END) RETURNING *",
            (user_id, kind, label, target, secret, is_default, verified),
        ).fetchone()
        assert row is not None
        return row

    def drop_destination(self, destination_id: int) -> None:
        self.conn.execute("DELETE FROM alert_destinations WHERE id = %s", (destination_id,))

    def update_destination(
        self, user_id: int, destination_id: int, *, label: str | None, is_default: bool | None
    ) -> bool:
        """Change what is given (None keeps the value); False when the user has no such destination."""
        row = self.conn.execute(
            "UPDATE alert_destinations SET label = coalesce(%s, label), is_default = coalesce(%s, is_default) "
            "WHERE id = %s AND user_id = %s RETURNING id",
            (label, is_default, destination_id, user_id),
        ).fetchone()
        return row is not None

    def delete_user_destination(self, user_id: int, destination_id: int) -> bool:
        cur = self.conn.execute(
            "DELETE FROM alert_destinations WHERE id = %s AND user_id = %s", (destination_id, user_id)
        )
        return cur.rowcount != 0

    def email_destination(self, destination_id: int) -> dict[str, Any] | None:
        """The owner and address of an email destination."""
        row: dict[str, Any] | None = self.conn.execute(
            "SELECT user_id, target FROM alert_destinations WHERE id = %s AND kind = 'email'",
            (destination_id,),
        ).fetchone()
        return row

    def mark_verified(self, destination_id: int) -> None:
        """Verified now, or when it first was."""
        self.conn.execute(
            "UPDATE alert_destinations SET verified_at = coalesce(verified_at, now()) WHERE id = %s",
            (destination_id,),
        )

    def unsubscribe_email(self, destination_id: int) -> str | None:
        """Stop an email destination (kept as first unsubscribed); its address, None without it."""
        row = self.conn.execute(
            "UPDATE alert_destinations SET unsubscribed_at = coalesce(unsubscribed_at, now()) "
            "WHERE id = %s AND kind = 'email' RETURNING target",
            (destination_id,),
        ).fetchone()
        return None if row is None else str(row["target"])

    def resubscribe(self, user_id: int, destination_id: int) -> None:
        self.conn.execute(
            "UPDATE alert_destinations SET unsubscribed_at = NULL, disabled_reason = NULL WHERE id = %s AND user_id = %s",
            (destination_id, user_id),
        )

    def insert_telegram_code(self, code_hash: str, user_id: int, label: str, expires_at: datetime) -> None:
        self.conn.execute(
            "INSERT INTO telegram_link_codes (code_hash, user_id, label, expires_at) VALUES (%s, %s, %s, %s)",
            (code_hash, user_id, label, expires_at),
        )

    def lock_telegram_code(self, code_hash: str) -> dict[str, Any] | None:
        """The code's owner, label, expiry and use, locked until the transaction ends."""
        row: dict[str, Any] | None = self.conn.execute(
            "SELECT user_id, label, expires_at, used_at FROM telegram_link_codes WHERE code_hash = %s FOR UPDATE",
            (code_hash,),
        ).fetchone()
        return row

    def use_telegram_code(self, code_hash: str, at: datetime) -> None:
        self.conn.execute("UPDATE telegram_link_codes SET used_at = %s WHERE code_hash = %s", (at, code_hash))

    def link_telegram_chat(self, user_id: int, label: str, chat_id: str) -> dict[str, Any]:
        """The chat as the user's verified Telegram destination; a link of the chat to anyone else
        is dropped first (only the new owner holds the chat)."""
        self.conn.execute("DELETE FROM alert_destinations WHERE kind = 'telegram' AND target = %s", (chat_id,))
        row: dict[str, Any] | None = self.conn.execute(
            "INSERT INTO alert_destinations (user_id, kind, label, target, verified_at) "
            "VALUES (%s, 'telegram', %s, %s, now()) RETURNING *",
            (user_id, label, chat_id),
        ).fetchone()
        assert row is not None
        return row

    def preferences_row(self, user_id: int) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(
            "SELECT * FROM alert_preferences WHERE user_id = %s", (user_id,)
        ).fetchone()
        return row

    def save_preferences(
        self,
        user_id: int,
        *,
        timezone: str,
        quiet_start: str | None,
        quiet_end: str | None,
        quiet_min_severity: str,
    ) -> None:
        self.conn.execute(
            "INSERT INTO alert_preferences (user_id, timezone, quiet_start, quiet_end, quiet_min_severity) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET timezone = excluded.timezone, "
            "quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, "
            "quiet_min_severity = excluded.quiet_min_severity, updated_at = now()",
            (user_id, timezone, quiet_start, quiet_end, quiet_min_severity),
        )

    def user_deliveries(
        self, user_id: int, *, destination_id: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The user's latest deliveries (of one destination when given), newest first, and their
        attempts in order."""
        rows = self.conn.execute(
            "SELECT id, destination_id, rule_id, severity, message->>'subject' AS subject, status, last_error, "
            "created_at FROM alert_deliveries WHERE user_id = %s AND (%s::bigint IS NULL OR destination_id = %s) "
            "ORDER BY id DESC LIMIT %s",
            (user_id, destination_id, destination_id, limit),
        ).fetchall()
        attempts = self.conn.execute(
            "SELECT delivery_id, attempt, outcome, response_code, response, latency_ms, created_at AS at "
            "FROM alert_delivery_attempts WHERE delivery_id = ANY(%s) ORDER BY id",
            ([int(r["id"]) for r in rows],),
        ).fetchall()
        return rows, attempts


class PostgresDestinations(UnitOfWork[DestinationRecords]):
    """`DestinationsRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresDestinationRecords)


def suppress_addresses(conn: Connection, addresses: Sequence[str], reason: str, detail: str) -> None:
    """Suppress each (already lower-case) address; addresses already suppressed stay as they are."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO email_suppressions (address, reason, detail) VALUES (%s, %s, %s::jsonb) "
            "ON CONFLICT (address) DO NOTHING",
            [(a, reason, detail) for a in addresses],
        )
