"""Alert data in PostgreSQL that the alerts area reads across tables (rules, transactions,
`alert_preferences`)."""

from __future__ import annotations

from typing import Any

from tidewatch.db import Connection


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
