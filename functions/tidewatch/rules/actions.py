"""Running a firing's actions: notify, prepare a transaction, call a webhook, deliver an alert.

Actions of all firings run in a small thread pool; each one is retried on its own with
exponential backoff, and a failure is recorded (never raised), so one broken webhook or an
unavailable wallet function never blocks the other actions or rules. `deliver` actions run after
the firing's other actions (so the alert can link the transaction the firing just prepared) and only
write the delivery outbox; sending is asynchronous (`tidewatch.alerts`). A failure no retry can cure
(the database refuses what the action would store) is not retried and is marked `permanent`: the
tick then disables the rule and tells its owner.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tidewatch.db import Database
from tidewatch.live.pushes import NotificationPush, TransactionPreparedPush, push
from tidewatch.observability import logger
from tidewatch.rules import repository
from tidewatch.rules.model import (
    Action,
    DeliverAction,
    NotifyAction,
    PrepareTransactionAction,
    RuleDefinition,
    WebhookAction,
)
from tidewatch.rules.repository import RuleActionRecords, ValueRefused
from tidewatch.rules.webhooks import WebhookSender
from tidewatch.transactions.models import PrepareRequest

T = TypeVar("T")


class PreparedTransaction(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    transaction_id: str
    summary: str


class TransactionPreparer(Protocol):
    def prepare(self, request: PrepareRequest) -> PreparedTransaction: ...


class AlertSink(Protocol):
    """Where `deliver` actions go (`tidewatch.alerts.action.AlertDispatcher`)."""

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
    ) -> dict[str, Any]: ...


class NotificationPusher(Protocol):
    def push_to_user(self, user_id: int, message: Mapping[str, Any]) -> int:
        """Push to the user's live connections subscribed to `notifications`; returns deliveries."""
        ...


@dataclass(frozen=True)
class Firing:
    execution_id: int
    rule_id: int
    user_id: int
    portfolio_id: int | None
    rule_name: str
    window_key: str
    fired_at: datetime
    observed: Mapping[str, Any]
    actions: Sequence[Action]

    def payload(self) -> dict[str, Any]:
        return {
            "event": "rule.fired",
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "portfolio_id": self.portfolio_id,
            "window": self.window_key,
            "fired_at": self.fired_at.isoformat(),
            "observed": dict(self.observed),
        }


@dataclass
class ActionResult:
    type: str
    ok: bool
    attempts: int
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    permanent: bool = False  # retrying cannot help (the stored rule itself is at fault)


class PermanentActionError(Exception):
    """An action failed for a reason retries cannot cure (e.g. PostgreSQL refuses the stored value)."""


def with_retries(fn: Callable[[], T], *, attempts: int, backoff_seconds: float) -> tuple[T | None, int, str | None]:
    """Call fn until it succeeds, sleeping backoff, 2×backoff, ... between tries; a
    PermanentActionError ends the tries at once (its message starts with "permanent:")."""
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            return fn(), attempt, None
        except PermanentActionError as exc:
            return None, attempt, f"permanent: {exc}"[:300]
        except Exception as exc:  # any failure of one action is contained and retried
            error = f"{type(exc).__name__}: {exc}"[:300]
            if attempt < attempts:
                time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return None, attempts, error


class ActionRunner:
    def __init__(
        self,
        database: RuleActionRecords | Database,
        *,
        pusher: NotificationPusher | None,
        preparer: TransactionPreparer | None,
        webhooks: WebhookSender | None,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        max_workers: int = 8,
        alerts: AlertSink | None = None,
    ) -> None:
        self._alerts = alerts
        self._records = repository.rule_actions(database)
        self._pusher = pusher
        self._preparer = preparer
        self._webhooks = webhooks
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._workers = max_workers

    def run(self, firings: Sequence[Firing]) -> dict[int, list[ActionResult]]:
        """Run every action of every firing; results per execution id, also stored on the execution."""
        jobs = [(f, a) for f in firings for a in f.actions]
        results = self._run_jobs(jobs)
        by_execution: dict[int, list[ActionResult]] = {f.execution_id: [] for f in firings}
        for (firing, _), result in zip(jobs, results, strict=True):
            by_execution[firing.execution_id].append(result)
        self._record({eid: (results, 0) for eid, results in by_execution.items()})
        return by_execution

    def _run_jobs(self, jobs: Sequence[tuple[Firing, Action]]) -> list[ActionResult]:
        """Deliver actions in a second phase, after the other actions of every firing."""
        if not jobs:
            return []
        results: list[ActionResult | None] = [None] * len(jobs)
        stored = self._store_notifications(jobs)
        with ThreadPoolExecutor(max_workers=min(self._workers, len(jobs))) as pool:
            for phase in (False, True):
                indexes = [i for i, (_, a) in enumerate(jobs) if isinstance(a, DeliverAction) is phase]
                run = pool.map(lambda i: self._run_one(*jobs[i], stored.get(i)), indexes)
                for i, result in zip(indexes, run, strict=True):
                    results[i] = result
        return [r for r in results if r is not None]

    def retry_unfinished(
        self, *, now: datetime, max_rounds: int = 5, stale_seconds: int = 120, limit: int = 100
    ) -> int:
        """Re-run failed notify/prepare actions of recent firings, and every action of firings whose
        actions never ran (the function died after claiming them). Webhooks retry in their own queue.
        Only firings of earlier ticks are considered. Returns the number of actions re-run."""
        rows = self._records.unfinished_firings(
            now=now, max_rounds=max_rounds, stale_seconds=stale_seconds, limit=limit
        )
        jobs: list[tuple[Firing, Action]] = []
        plan: list[tuple[int, list[ActionResult], list[int], int]] = []
        for row in rows:
            try:
                definition = RuleDefinition.model_validate(row["definition"])
            except ValidationError:
                # The rule's stored definition no longer validates (the tick disables such rules):
                # nothing can be re-run; the last round is recorded so the sweep stops selecting it.
                stored = [ActionResult(**r) for r in row["actions"]]
                plan.append((int(row["id"]), stored, [], max_rounds))
                continue
            previous = [ActionResult(**r) for r in row["actions"]]
            if not previous:
                pending = list(range(len(definition.actions)))
                previous = [ActionResult(a.type, False, 0, error="not run") for a in definition.actions]
            elif [r.type for r in previous] != [a.type for a in definition.actions]:
                pending = []  # the rule was edited since: do not guess which action is which
            else:
                pending = [i for i, r in enumerate(previous) if not r.ok and not r.permanent and r.type != "webhook"]
            firing = Firing(
                execution_id=int(row["id"]),
                rule_id=int(row["rule_id"]),
                user_id=int(row["user_id"]),
                portfolio_id=row["portfolio_id"],
                rule_name=str(row["name"]),
                window_key=str(row["window_key"]),
                fired_at=row["evaluated_at"],
                observed=dict(row["observed"]),
                actions=definition.actions,
            )
            jobs += [(firing, definition.actions[i]) for i in pending]
            # Nothing left to retry: mark the last round so the sweep stops selecting it.
            rounds = int(row["action_rounds"]) + 1 if pending else max_rounds
            plan.append((firing.execution_id, previous, pending, rounds))
        results = iter(self._run_jobs(jobs))
        merged: dict[int, tuple[list[ActionResult], int]] = {}
        for execution_id, previous, pending, rounds in plan:
            for i in pending:
                previous[i] = next(results)
            merged[execution_id] = (previous, rounds)
        self._record(merged)
        return len(jobs)

    def _retry(self, fn: Callable[[], T]) -> tuple[T | None, int, str | None]:
        return with_retries(fn, attempts=self._attempts, backoff_seconds=self._backoff)

    def _store_notifications(self, jobs: Sequence[tuple[Firing, Action]]) -> dict[int, int]:
        """Every notify job's notification stored in one statement: job index -> notification id.
        Empty when there are fewer than two or the statement fails (a refused value, the database
        away): those jobs then store their own, each with its retries and its own outcome."""
        notify = [(i, f, a) for i, (f, a) in enumerate(jobs) if isinstance(a, NotifyAction)]
        if len(notify) < 2:
            return {}
        rows = [
            (f.user_id, _notification_title(f, a), json.dumps(_notification_body(f, a)), f.rule_id)
            for _, f, a in notify
            if isinstance(a, NotifyAction)
        ]
        try:
            ids = self._records.insert_rule_fired_notifications(rows)
        except Exception as exc:  # each job then stores its own and reports its own failure
            logger.info("notifications stored one by one", extra={"error": str(exc)[:200]})
            return {}
        return {i: notification_id for (i, _, _), notification_id in zip(notify, ids, strict=True)}

    def _run_one(self, firing: Firing, action: Action, stored: int | None = None) -> ActionResult:
        if isinstance(action, NotifyAction):
            return self._notify(firing, action, stored)
        if isinstance(action, PrepareTransactionAction):
            return self._prepare(firing, action)
        if isinstance(action, DeliverAction):
            return self._deliver(firing, action)
        return self._webhook(firing, action)

    def _deliver(self, firing: Firing, action: DeliverAction) -> ActionResult:
        if self._alerts is None:
            return ActionResult("deliver", False, 0, error="alerts not configured")
        alerts = self._alerts
        detail, attempts, error = self._retry(
            lambda: alerts.deliver(
                execution_id=firing.execution_id,
                rule_id=firing.rule_id,
                user_id=firing.user_id,
                portfolio_id=firing.portfolio_id,
                rule_name=firing.rule_name,
                observed=firing.observed,
                window_key=firing.window_key,
                destinations=list(action.destinations) if action.destinations else None,
                severity=action.severity,
                title=action.title,
            )
        )
        if detail is None:
            return ActionResult("deliver", False, attempts, error=error)
        return ActionResult("deliver", True, attempts, detail)

    def _notify(self, firing: Firing, action: NotifyAction, stored: int | None = None) -> ActionResult:
        title, body = _notification_title(firing, action), _notification_body(firing, action)
        notification_id: int | None
        if stored is not None:
            notification_id, attempts, error = stored, 1, None
        else:
            notification_id, attempts, error = self._retry(lambda: self._store_notification(firing, title, body))
        if notification_id is None:
            permanent = bool(error and error.startswith("permanent:"))
            return ActionResult("notify", False, attempts, error=error, permanent=permanent)
        message = push(NotificationPush(id=notification_id, title=title, body=body))
        pushed, _, push_error = self._retry(lambda: self._push(firing.user_id, message))
        # Stored is what counts (GET /notifications shows it); a failed push is only logged.
        return ActionResult(
            "notify", True, attempts, {"notification_id": notification_id, "pushed": pushed or 0}, push_error
        )

    def _store_notification(self, firing: Firing, title: str, body: Mapping[str, Any]) -> int:
        try:
            return self._records.insert_rule_fired_notification(firing.user_id, title, json.dumps(body), firing.rule_id)
        except ValueRefused as exc:  # the title or body is a value PostgreSQL refuses
            raise PermanentActionError(f"notification cannot be stored: {exc}") from exc

    def _push(self, user_id: int, message: Mapping[str, Any]) -> int:
        return self._pusher.push_to_user(user_id, message) if self._pusher else 0

    def push(self, user_id: int, message: Mapping[str, Any]) -> None:
        """Push one message live to a user's dashboard, with the action retries; failures are logged."""
        _, _, error = self._retry(lambda: self._push(user_id, message))
        if error:
            logger.warning("live push failed", extra={"user_id": user_id, "error": error})

    def _prepare(self, firing: Firing, action: PrepareTransactionAction) -> ActionResult:
        if self._preparer is None or firing.portfolio_id is None:
            return ActionResult("prepare_transaction", False, 0, error="wallet function not configured")
        preparer = self._preparer
        request = PrepareRequest(
            user_id=firing.user_id,
            portfolio_id=firing.portfolio_id,
            rule_id=firing.rule_id,
            intent=action.intent,
            idempotency_key=f"rule:{firing.rule_id}:{firing.window_key}",
        )
        prepared, attempts, error = self._retry(lambda: preparer.prepare(request))
        if prepared is None:
            return ActionResult("prepare_transaction", False, attempts, error=error)
        message = push(
            TransactionPreparedPush(
                rule_id=firing.rule_id, transaction_id=prepared.transaction_id, summary=prepared.summary
            )
        )
        self._retry(lambda: self._push(firing.user_id, message))
        detail = {"transaction_id": prepared.transaction_id, "summary": prepared.summary}
        return ActionResult("prepare_transaction", True, attempts, detail)

    def _webhook(self, firing: Firing, action: WebhookAction) -> ActionResult:
        if self._webhooks is None:
            return ActionResult("webhook", False, 0, error="webhooks not configured")
        webhooks = self._webhooks
        outcome, attempts, error = self._retry(lambda: webhooks.send(firing.rule_id, str(action.url), firing.payload()))
        if outcome is None:
            return ActionResult("webhook", False, attempts, error=error)
        # A failed HTTP attempt stays queued with backoff (webhook_deliveries), retried each tick.
        detail = {"delivery_id": outcome.delivery_id, "status": outcome.status, "response_code": outcome.response_code}
        return ActionResult("webhook", outcome.status != "failed", outcome.attempt, detail, outcome.error)

    def _record(self, by_execution: Mapping[int, tuple[list[ActionResult], int]]) -> None:
        """Store results and retry rounds; `error` lists only failed actions (what the sweep looks for)."""
        params = [
            (
                json.dumps([r.__dict__ for r in results]),
                "; ".join(f"{r.type}: {r.error}" for r in results if not r.ok) or None,
                rounds,
                execution_id,
            )
            for execution_id, (results, rounds) in by_execution.items()
        ]
        if not params:
            return
        try:
            self._records.record_action_results(params)
        except Exception as exc:  # the actions happened; losing their log must not fail the tick
            logger.exception("could not record action results", extra={"error": str(exc)})


def _notification_title(firing: Firing, action: NotifyAction) -> str:
    return action.title or f"Rule '{firing.rule_name}' fired"


def _notification_body(firing: Firing, action: NotifyAction) -> dict[str, Any]:
    return {**firing.payload(), "severity": action.severity}
