"""Alerts function logic: send each queued delivery, sweep what is due, apply SES notifications.

An SQS batch answers with `batchItemFailures` only for messages whose processing raised (the row
is untouched and SQS redelivers); a provider failure is recorded on the row and re-queued with its
backoff (`DelaySeconds` ≤ 900 s, longer waits are picked up by the scheduled sweep).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from alerts.deps import AlertsDeps
from alerts.events import SnsEvent, SqsEvent
from tidewatch.alerts.destinations import apply_ses_notification
from tidewatch.events import AlertDeliveryMessage, ScheduledEvent
from tidewatch.observability import logger


def _send(deps: AlertsDeps, delivery_id: int) -> str:
    result = deps.worker.process(delivery_id)
    if result.outcome == "retry" and result.retry_in is not None and deps.queue is not None:
        deps.queue.submit([delivery_id], delay_seconds=result.retry_in)
    return result.outcome


def handle_queue(event: SqsEvent, *, deps: AlertsDeps) -> dict[str, Any]:
    failures = []
    outcomes: dict[str, int] = {}
    for record in event.records:
        try:
            delivery_id = AlertDeliveryMessage.model_validate_json(record.body).delivery_id
        except ValidationError:
            logger.warning("alert queue message is not a delivery", extra={"message_id": record.message_id})
            continue  # malformed: retrying cannot help
        try:
            outcome = _send(deps, delivery_id)
        except Exception:  # database down: let SQS redeliver this one
            logger.exception("alert delivery raised", extra={"delivery_id": delivery_id})
            failures.append({"itemIdentifier": record.message_id})
            continue
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"batchItemFailures": failures, "outcomes": outcomes}


def sweep(event: ScheduledEvent, *, deps: AlertsDeps, limit: int = 500) -> dict[str, Any]:
    """Deliveries due but not in the queue: long backoffs, quiet hours over, lost messages, expired leases."""
    due = deps.worker.due(limit=limit)
    outcomes: dict[str, int] = {}
    for delivery_id in due:
        outcome = _send(deps, delivery_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"event_id": event.id, "due": len(due), "outcomes": outcomes}


def handle_ses(event: SnsEvent, *, deps: AlertsDeps) -> dict[str, Any]:
    suppressed = [a for n in event.notifications() for a in apply_ses_notification(deps.database, n)]
    return {"suppressed": len(suppressed)}
