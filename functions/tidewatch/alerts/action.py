"""The rules' `deliver` action: compose the firing's message and put it in the outbox.

Runs in the rules tick's action pool but only writes rows and hands their ids to the queue;
sending happens in the alerts consumer, asynchronously to evaluation. The idempotency key is the
firing (`execution:<id>`), so retried actions and redelivered events never add a second row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidewatch.alerts.messages import compose
from tidewatch.alerts.outbox import Outbox
from tidewatch.db import Database


class AlertDispatcher:
    def __init__(self, database: Database, outbox: Outbox, *, dashboard_url: str) -> None:
        self._db, self._outbox, self._dashboard = database, outbox, dashboard_url

    def deliver(
        self,
        *,
        execution_id: int,
        rule_id: int,
        user_id: int,
        portfolio_id: int | None,
        rule_name: str,
        observed: Mapping[str, Any],
        window_key: str,
        destinations: list[int] | None,
        severity: str,
        title: str | None,
    ) -> dict[str, Any]:
        with self._db.connection() as conn:
            rule = conn.execute("SELECT definition FROM rules WHERE id = %s", (rule_id,)).fetchone()
            # The transaction this firing prepared (same idempotency key as the wallet's), if any.
            prepared = conn.execute(
                "SELECT id::text AS id FROM transactions WHERE user_id = %s AND idempotency_key = %s",
                (user_id, f"rule:{rule_id}:{window_key}"),
            ).fetchone()
        trigger = (rule["definition"] or {}).get("trigger", {}) if rule else {}
        message = compose(
            rule_name=rule_name,
            trigger=trigger if isinstance(trigger, dict) else {},
            observed=observed,
            severity=severity,
            title=title,
            dashboard_url=self._dashboard,
            portfolio_id=portfolio_id,
            transaction_id=prepared["id"] if prepared else None,
        )
        ids = self._outbox.enqueue(
            user_id=user_id,
            idempotency_key=f"execution:{execution_id}",
            message=message,
            destination_ids=destinations,
            execution_id=execution_id,
            rule_id=rule_id,
        )
        return {"deliveries": ids}
