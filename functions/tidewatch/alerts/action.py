"""The rules' `deliver` action: compose the firing's message and put it in the outbox.

Runs in the rules tick's action pool but only writes rows and hands their ids to the queue;
sending happens in the alerts consumer, asynchronously to evaluation. The idempotency key is the
firing (`execution:<id>`), so retried actions and redelivered events never add a second row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidewatch.alerts.messages import compose
from tidewatch.alerts.outbox import Outbox, quiet_hours_of
from tidewatch.alerts.repository import FiringContexts, firing_contexts
from tidewatch.db import Database


class AlertDispatcher:
    """Composes a firing's alert from what `FiringContexts` reads and puts it in the `Outbox`
    (a `Database` is wrapped in the Postgres adapter, as D43)."""

    def __init__(self, database: FiringContexts | Database, outbox: Outbox, *, dashboard_url: str) -> None:
        self._contexts, self._outbox, self._dashboard = firing_contexts(database), outbox, dashboard_url

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
        row = self._contexts.firing_context(
            rule_id=rule_id, user_id=user_id, transaction_key=f"rule:{rule_id}:{window_key}"
        )
        trigger = (row["definition"] or {}).get("trigger", {}) if row else {}
        # The context carries the owner's quiet hours (none without a preferences row); when the
        # rule is gone there is no context, so the outbox reads the owner's quiet hours itself.
        quiet = quiet_hours_of(row if row["timezone"] else None) if row else None
        message = compose(
            rule_name=rule_name,
            trigger=trigger if isinstance(trigger, dict) else {},
            observed=observed,
            severity=severity,
            title=title,
            dashboard_url=self._dashboard,
            portfolio_id=portfolio_id,
            transaction_id=row["transaction_id"] if row else None,
        )
        ids = self._outbox.enqueue(
            user_id=user_id,
            idempotency_key=f"execution:{execution_id}",
            message=message,
            destination_ids=destinations,
            execution_id=execution_id,
            rule_id=rule_id,
            quiet=quiet,
        )
        return {"deliveries": ids}
