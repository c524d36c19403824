"""The delivery outbox: at least once per (firing, destination), never sent twice once delivered.

`Outbox.enqueue` writes one `alert_deliveries` row per verified destination, keyed by
(idempotency key, destination): the firing's execution id makes the key, so a redelivered market
event (which claims nothing), a retried action or a retried Lambda inserts nothing new. The new
ids go to a `DeliveryQueue` (SQS in AWS, threads locally) and are sent asynchronously to the
rules tick.

`DeliveryWorker.process(id)` claims the row with a lease (`pending` and due, or `sending` with an
expired lease: a worker that died mid-send), sends it on its channel and records the attempt
(outcome, provider response, latency) and the row's next state in one transaction:
`delivered`; `pending` again after a backoff that is at least the provider's `retry_after`;
`dead` after `max_attempts` or an answer no retry can cure (metric `AlertDeliveryDead`);
`skipped` when the destination was unsubscribed or the address suppressed meanwhile. Two workers
given the same id (SQS delivers at least once) cannot both send: only one wins the claim, and a
delivered row is never claimed again. A worker that dies after the provider accepted but before
recording sends again after the lease — the one duplicate at-least-once allows.

Quiet hours: an alert below the user's quiet-hours severity that is due inside their quiet hours
waits (`next_attempt_at` = the end of the quiet hours, `last_error` says so); it is not dropped.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidewatch.alerts import repository
from tidewatch.alerts.channels import Channel, Destination, SendContext, SendResult
from tidewatch.alerts.messages import AlertMessage, severity_rank
from tidewatch.alerts.repository import DeliveriesRepository, OutboxRepository, PostgresOutbox
from tidewatch.db import Connection, Database
from tidewatch.events import AlertDeliveryMessage
from tidewatch.observability import MetricUnit, logger, metrics


class DeliveryQueue(Protocol):
    def submit(self, delivery_ids: Sequence[int], *, delay_seconds: float = 0.0) -> None: ...


@dataclass(frozen=True)
class QuietHours:
    timezone: str
    start: clock_time | None
    end: clock_time | None
    min_severity: str = "critical"

    def holds_until(self, severity: str, now: datetime) -> datetime | None:
        """The end of the quiet hours when an alert of `severity` must wait at `now`, else None."""
        if self.start is None or self.end is None or self.start == self.end:
            return None
        if severity_rank(severity) >= severity_rank(self.min_severity):
            return None
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        local = now.astimezone(zone)
        t = local.time().replace(tzinfo=None)
        inside = self.start <= t < self.end if self.start < self.end else (t >= self.start or t < self.end)
        if not inside:
            return None
        end = datetime.combine(local.date(), self.end, tzinfo=zone)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def quiet_hours_of(row: Mapping[str, Any] | None) -> QuietHours:
    """The quiet hours of an `alert_preferences` row; none without the row."""
    if row is None:
        return QuietHours("UTC", None, None)
    return QuietHours(str(row["timezone"]), row["quiet_start"], row["quiet_end"], str(row["quiet_min_severity"]))


def quiet_hours(conn: Connection, user_id: int) -> QuietHours:
    return quiet_hours_of(repository.quiet_hours_row(conn, user_id))


class Outbox:
    """Writes a firing's outbox rows over an `OutboxRepository`; a `Database` gets the Postgres one."""

    def __init__(
        self,
        deliveries: OutboxRepository | Database,
        queue: DeliveryQueue | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deliveries = PostgresOutbox(deliveries) if isinstance(deliveries, Database) else deliveries
        self._queue, self._clock = queue, clock

    def enqueue(
        self,
        *,
        user_id: int,
        idempotency_key: str,
        message: AlertMessage,
        destination_ids: Sequence[int] | None,
        execution_id: int | None = None,
        rule_id: int | None = None,
        respect_quiet_hours: bool = True,
        quiet: QuietHours | None = None,
    ) -> list[int]:
        """Outbox rows for the user's verified destinations (named, or their default set).

        Returns the ids of the rows still to send (new ones and earlier ones not yet sent), and
        hands those that are due to the queue. Destinations of other users are never selected.
        `quiet` saves a query when the caller already read the user's quiet hours.
        """
        now = self._clock()
        with self._deliveries.session() as records:
            if respect_quiet_hours and quiet is None:
                quiet = quiet_hours_of(records.quiet_hours_row(user_id))
            held = quiet.holds_until(message.severity, now) if respect_quiet_hours and quiet else None
            note = f"held for quiet hours until {held.isoformat()}" if held else None
            rows = records.enqueue_deliveries(
                user_id=user_id,
                destination_ids=destination_ids,
                execution_id=execution_id,
                idempotency_key=idempotency_key,
                rule_id=rule_id,
                severity=message.severity,
                message=json.dumps(message.to_json()),
                next_attempt_at=held or now,
                note=note,
            )
        waiting = [int(r["id"]) for r in rows]
        due = [int(r["id"]) for r in rows if r["next_attempt_at"] <= now]
        if due and self._queue is not None:
            self._queue.submit(due)
        return waiting


@dataclass(frozen=True)
class ProcessResult:
    delivery_id: int
    outcome: str  # delivered | retry | dead | skipped | not-due
    retry_in: float | None = None


# destination -> the one-click unsubscribe URL (email only)
UnsubscribeLink = Callable[[Destination], str | None]


class DeliveryWorker:
    """Sends claimed outbox rows on their channels and records each attempt (over a `DeliveriesRepository`)."""

    def __init__(
        self,
        deliveries: DeliveriesRepository,
        channels: Mapping[str, Channel],
        *,
        unsubscribe_link: UnsubscribeLink = lambda destination: None,
        max_attempts: int = 8,
        backoff_base_seconds: float = 15.0,
        backoff_cap_seconds: float = 3600.0,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._deliveries = deliveries
        self._channels = dict(channels)
        self._unsubscribe = unsubscribe_link
        self._max_attempts = max_attempts
        self._base = backoff_base_seconds
        self._cap = backoff_cap_seconds
        self._lease = lease_seconds
        self._clock = clock

    def backoff_seconds(self, attempt: int, retry_after: float | None) -> float:
        """base, 2×base, 4×base … capped; never sooner than the provider asked."""
        ours = min(self._cap, self._base * 2 ** (attempt - 1))
        return max(ours, retry_after or 0.0)

    def _claim(self, delivery_id: int) -> dict[str, Any] | None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        with self._deliveries.session() as records:
            return records.claim_delivery(delivery_id, now=now, lease_until=now + timedelta(seconds=self._lease))

    def process(self, delivery_id: int) -> ProcessResult:
        row = self._claim(delivery_id)
        if row is None:
            return ProcessResult(delivery_id, "not-due")
        attempt = int(row["attempt"])
        destination = Destination(
            int(row["destination_id"]),
            int(row["user_id"]),
            str(row["kind"]),
            str(row["label"]),
            str(row["target"]),
            dict(row["secret"] or {}),
        )
        started = time.perf_counter()
        if row["unsubscribed_at"] is not None or row["disabled_reason"] or row["verified_at"] is None:
            result = SendResult("failed", None, "destination unsubscribed or disabled")
            final = "skipped"
        elif row["suppressed"]:
            result = SendResult("failed", None, "address suppressed after a bounce or complaint")
            final = "skipped"
        else:
            channel = self._channels.get(destination.kind)
            if channel is None:
                result = SendResult("retry", None, f"channel {destination.kind} not configured")
            else:
                message = AlertMessage.from_json(row["message"])
                context = SendContext(delivery_id, self._unsubscribe(destination))
                try:
                    result = channel.send(destination, message, context)
                except Exception as exc:  # a channel bug must not lose the delivery: retried, logged
                    logger.exception("alert channel raised", extra={"delivery_id": delivery_id})
                    result = SendResult("retry", None, f"{type(exc).__name__}: {exc}"[:300])
            final = ""
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return self._record(delivery_id, destination, attempt, result, latency_ms, final)

    def _record(
        self,
        delivery_id: int,
        destination: Destination,
        attempt: int,
        result: SendResult,
        latency_ms: float,
        final: str,
    ) -> ProcessResult:
        retry_in: float | None = None
        if final == "skipped":
            status, outcome = "skipped", "skipped"
        elif result.outcome == "delivered":
            status, outcome = "delivered", "delivered"
        elif result.outcome == "retry" and attempt < self._max_attempts:
            status, outcome = "pending", "retry"
            retry_in = self.backoff_seconds(attempt, result.retry_after)
        else:
            status, outcome = "dead", "failed"
        now = datetime.fromtimestamp(self._clock(), UTC)
        next_at = now + timedelta(seconds=retry_in) if retry_in is not None else now
        error = None if status == "delivered" else result.response[:500] or result.outcome
        with self._deliveries.transaction() as records:
            records.record_delivery_attempt(
                delivery_id,
                attempt=attempt,
                outcome=outcome,
                response_code=result.response_code,
                response=result.response[:2000],
                latency_ms=latency_ms,
            )
            records.set_delivery_state(delivery_id, status=status, next_attempt_at=next_at, error=error)
            if result.disable:
                records.disable_destination(destination.id, result.disable[:300])
            if result.suppress and destination.kind == "email":
                records.suppress_address(
                    destination.target, result.suppress, json.dumps({"response": result.response[:500]})
                )
        if status == "dead":
            metrics.add_metric(name="AlertDeliveryDead", unit=MetricUnit.Count, value=1)
            logger.warning(
                "alert delivery dead",
                extra={"delivery_id": delivery_id, "kind": destination.kind, "attempt": attempt, "error": error},
            )
        return ProcessResult(delivery_id, "dead" if status == "dead" else outcome, retry_in)

    def due(self, *, limit: int = 500) -> list[int]:
        """Deliveries due now (retries whose backoff elapsed, quiet hours over, expired leases)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        with self._deliveries.session() as records:
            return records.due_deliveries(now=now, limit=limit)


class ThreadDeliveryQueue:
    """The local run's queue: a timer heap feeding a small thread pool (what SQS + a consumer are in AWS).

    Retries go back on the heap with their delay; `drain()` waits until nothing is due or running.
    """

    def __init__(self, worker: DeliveryWorker, *, workers: int = 8) -> None:
        self._worker = worker
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alerts")
        self._heap: list[tuple[float, int]] = []
        self._cv = threading.Condition()
        self._running = 0
        self._closed = False
        self._timer = threading.Thread(target=self._loop, name="alerts-timer", daemon=True)
        self._timer.start()

    def submit(self, delivery_ids: Sequence[int], *, delay_seconds: float = 0.0) -> None:
        due = time.monotonic() + delay_seconds
        with self._cv:
            for delivery_id in delivery_ids:
                heapq.heappush(self._heap, (due, int(delivery_id)))
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(timeout)
                if self._closed:
                    return
                _, delivery_id = heapq.heappop(self._heap)
                self._running += 1
            self._pool.submit(self._run, delivery_id)

    def _run(self, delivery_id: int) -> None:
        try:
            result = self._worker.process(delivery_id)
            if result.outcome == "retry" and result.retry_in is not None:
                self.submit([delivery_id], delay_seconds=result.retry_in)
        except Exception:  # the row stays pending/leased; the sweep picks it up again
            logger.exception("alert delivery failed in the local queue", extra={"delivery_id": delivery_id})
        finally:
            with self._cv:
                self._running -= 1
                self._cv.notify_all()

    def drain(self, timeout: float = 30.0, *, horizon_seconds: float = 0.0) -> bool:
        """Wait until nothing runs and nothing is due within `horizon_seconds`; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._running or (self._heap and self._heap[0][0] <= time.monotonic() + horizon_seconds):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._pool.shutdown(wait=True)


class SqsDeliveryQueue:
    """SQS between the rules function and the alerts function; a message is an `AlertDeliveryMessage`.

    SQS delays at most 900 s; a longer backoff is left to the alerts function's scheduled sweep.
    """

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client, self._url = client, queue_url

    def submit(self, delivery_ids: Sequence[int], *, delay_seconds: float = 0.0) -> None:
        if delay_seconds > 900:
            return
        ids = list(delivery_ids)
        for start in range(0, len(ids), 10):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": AlertDeliveryMessage(delivery_id=i).model_dump_json(),
                    "DelaySeconds": int(delay_seconds),
                }
                for i in ids[start : start + 10]
            ]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            if answer.get("Failed"):
                # The rows are in the outbox: the sweep sends them within a minute.
                logger.warning("alert queue refused messages", extra={"failed": answer["Failed"]})
