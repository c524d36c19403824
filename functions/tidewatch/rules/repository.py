"""Rules as their owners manage them, in PostgreSQL: the rules service's port and its adapter.

`RulesRepository` opens a unit of work (`transaction()` for writes, `reading()` for reads) that
yields `RuleRecords`: every lookup by rule id is scoped by owner, so another user's id finds
nothing. The records also count what the plan limits check (`tidewatch.billing.limits.PlanUsage`),
in the same transaction as the write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from tidewatch.billing.limits import PlanUsage
from tidewatch.billing.repository import PlanUsageRecords
from tidewatch.db import Database
from tidewatch.rules.webhooks import cancel_pending_deliveries

RULE_COLUMNS = (
    "id, name, portfolio_id, definition, cadence_seconds, cooldown_seconds, enabled, disabled_reason, armed, "
    "last_fired_at, created_at, updated_at, user_id"
)


@dataclass(frozen=True)
class RuleValues:
    """The owner-written columns of a rule; `definition` is the RuleDefinition as JSON."""

    name: str
    portfolio_id: int | None
    definition: str
    cadence_seconds: int
    cooldown_seconds: int
    enabled: bool


class RuleRecords(PlanUsage, Protocol):
    """Rules, their history and the owner's notifications, within one unit of work.

    Rows are dicts with the columns of `RULE_COLUMNS` (rules), of `Execution` and of `Notification`.
    Pages are newest first, ids below `before`, at most `limit` rows.
    """

    def portfolio_owner(self, portfolio_id: int) -> int | None: ...

    def owned_destinations(self, user_id: int, destination_ids: Sequence[int]) -> set[int]: ...

    def find(self, user_id: int, rule_id: int, *, lock: bool = False) -> dict[str, Any] | None: ...

    def page(self, user_id: int, *, before: int, limit: int) -> list[dict[str, Any]]: ...

    def insert(self, user_id: int, values: RuleValues) -> dict[str, Any]: ...

    def update(self, user_id: int, rule_id: int, values: RuleValues, *, rearm: bool) -> dict[str, Any] | None:
        """Write `values`; an enabled rule loses its disabled reason, `rearm` arms it."""
        ...

    def delete(self, user_id: int, rule_id: int) -> None:
        """Delete the rule and cancel its pending webhook retries."""
        ...

    def executions(self, rule_id: int, *, before: int, limit: int) -> list[dict[str, Any]]: ...

    def notifications(self, user_id: int, *, before: int, limit: int, unread_only: bool) -> list[dict[str, Any]]: ...


class RulesRepository(Protocol):
    def transaction(self) -> AbstractContextManager[RuleRecords]: ...

    def reading(self) -> AbstractContextManager[RuleRecords]: ...


class PostgresRuleRecords(PlanUsageRecords):
    """`RuleRecords` over one connection (the caller's transaction)."""

    def portfolio_owner(self, portfolio_id: int) -> int | None:
        row = self.conn.execute("SELECT user_id FROM portfolios WHERE id = %s", (portfolio_id,)).fetchone()
        return None if row is None else int(row["user_id"])

    def owned_destinations(self, user_id: int, destination_ids: Sequence[int]) -> set[int]:
        rows = self.conn.execute(
            "SELECT id FROM alert_destinations WHERE user_id = %s AND id = ANY(%s)", (user_id, list(destination_ids))
        ).fetchall()
        return {int(r["id"]) for r in rows}

    def find(self, user_id: int, rule_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(
            f"SELECT {RULE_COLUMNS} FROM rules WHERE id = %s AND user_id = %s" + (" FOR UPDATE" if lock else ""),
            (rule_id, user_id),
        ).fetchone()
        return row

    def page(self, user_id: int, *, before: int, limit: int) -> list[dict[str, Any]]:
        return self.conn.execute(
            f"SELECT {RULE_COLUMNS} FROM rules WHERE user_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
            (user_id, before, limit),
        ).fetchall()

    def insert(self, user_id: int, values: RuleValues) -> dict[str, Any]:
        row: dict[str, Any] | None = self.conn.execute(
            f"INSERT INTO rules (user_id, portfolio_id, name, definition, cadence_seconds, cooldown_seconds, "
            f"enabled) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s) RETURNING {RULE_COLUMNS}",
            (
                user_id,
                values.portfolio_id,
                values.name,
                values.definition,
                values.cadence_seconds,
                values.cooldown_seconds,
                values.enabled,
            ),
        ).fetchone()
        assert row is not None
        return row

    def update(self, user_id: int, rule_id: int, values: RuleValues, *, rearm: bool) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(
            f"UPDATE rules SET name = %s, portfolio_id = %s, definition = %s::jsonb, cadence_seconds = %s, "
            f"cooldown_seconds = %s, enabled = %s, disabled_reason = CASE WHEN %s THEN NULL "
            f"ELSE disabled_reason END, armed = armed OR %s, updated_at = now() "
            f"WHERE id = %s AND user_id = %s RETURNING {RULE_COLUMNS}",
            (
                values.name,
                values.portfolio_id,
                values.definition,
                values.cadence_seconds,
                values.cooldown_seconds,
                values.enabled,
                values.enabled,
                rearm,
                rule_id,
                user_id,
            ),
        ).fetchone()
        return row

    def delete(self, user_id: int, rule_id: int) -> None:
        cancel_pending_deliveries(self.conn, rule_id)
        self.conn.execute("DELETE FROM rules WHERE id = %s AND user_id = %s", (rule_id, user_id))

    def executions(self, rule_id: int, *, before: int, limit: int) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT id, window_key, evaluated_at, fired, observed, actions, error FROM rule_executions "
            "WHERE rule_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
            (rule_id, before, limit),
        ).fetchall()

    def notifications(self, user_id: int, *, before: int, limit: int, unread_only: bool) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT id, kind, title, body, rule_id, created_at, read_at FROM notifications "
            "WHERE user_id = %s AND id < %s AND (NOT %s OR read_at IS NULL) ORDER BY id DESC LIMIT %s",
            (user_id, before, unread_only, limit),
        ).fetchall()


class PostgresRules:
    """`RulesRepository` over a database: one connection (and transaction) per unit of work."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @contextmanager
    def transaction(self) -> Iterator[RuleRecords]:
        with self._db.transaction() as conn:
            yield PostgresRuleRecords(conn)

    @contextmanager
    def reading(self) -> Iterator[RuleRecords]:
        with self._db.connection() as conn:
            yield PostgresRuleRecords(conn)
