"""Outbound webhooks: HMAC-SHA256 signed, retried with exponential backoff, logged per delivery.

Signature header (Stripe style, timestamp against replays):
    Tidewatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
Each rule has its own secret, derived from the service's signing key and the rule id, so nothing
secret is stored per rule and the owner can always be shown theirs (`webhook_secret`).

Every attempt goes through the egress policy (`tidewatch.rules.egress`): the URL is resolved and
checked, the request goes to the checked address, and a redirect is not followed (the delivery
fails, the signed body never reaches the redirect's target). A delivery whose rule was deleted is
cancelled, never sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tidewatch.db import Database
from tidewatch.observability import logger
from tidewatch.rules import repository
from tidewatch.rules.egress import BlockedTarget, EgressPolicy, HttpPost, pinned_post
from tidewatch.rules.repository import WebhookQueue

SIGNATURE_HEADER = "Tidewatch-Signature"


def webhook_secret(signing_key: bytes, rule_id: int) -> str:
    digest = hmac.new(signing_key, f"tidewatch-webhook:{rule_id}".encode(), hashlib.sha256).hexdigest()
    return f"whsec_{digest}"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_seconds: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: int
    status: str  # delivered | pending (will retry) | failed (gave up)
    attempt: int
    response_code: int | None
    error: str | None


class WebhookSender:
    """Delivers one firing to one URL; the webhook_deliveries row is the log and the retry queue."""

    def __init__(
        self,
        database: WebhookQueue | Database,
        signing_key: bytes,
        *,
        post: HttpPost = pinned_post,
        max_attempts: int = 6,
        backoff_base_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        allow_private_targets: bool = False,
        egress: EgressPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._egress = egress if egress is not None else EgressPolicy(allow_private=allow_private_targets)
        self._queue = repository.webhook_queue(database)
        self._key = signing_key
        self._post = post
        self._max_attempts = max_attempts
        self._backoff = backoff_base_seconds
        self._timeout = timeout_seconds
        self._clock = clock

    def backoff_seconds(self, attempt: int) -> float:
        """Delay before attempt `attempt + 1`: base, 2×base, 4×base, ..."""
        return float(self._backoff * 2 ** (attempt - 1))

    def enqueue(self, rule_id: int, url: str, payload: Mapping[str, Any]) -> int:
        return self._queue.enqueue_delivery(rule_id, url, json.dumps(payload, separators=(",", ":"), sort_keys=True))

    def send(self, rule_id: int, url: str, payload: Mapping[str, Any]) -> DeliveryOutcome:
        return self.attempt(self.enqueue(rule_id, url, payload))

    @property
    def egress(self) -> EgressPolicy:
        return self._egress

    def attempt(self, delivery_id: int) -> DeliveryOutcome:
        row = self._queue.delivery(delivery_id)
        assert row is not None
        body = str(row["body"]).encode()
        attempt = int(row["attempt"]) + 1
        now = self._clock()
        code: int | None = None
        error: str | None = None
        final = False  # no retry can change the outcome
        if row["rule_id"] is None:
            error, final = "cancelled: the rule was deleted", True
        else:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Tidewatch-Webhooks/1",
                "Tidewatch-Delivery": str(delivery_id),
                SIGNATURE_HEADER: sign(webhook_secret(self._key, int(row["rule_id"])), body, int(now)),
            }
            try:
                target = self._egress.check(str(row["url"]))
                answer = self._post(target, body, headers, self._timeout)
                code = answer.status
                if 300 <= code < 400:
                    where = f" to {answer.location[:200]}" if answer.location else ""
                    error, final = f"HTTP {code}: redirect{where} not followed", True
                elif not 200 <= code < 300:
                    error = f"HTTP {code}"
            except BlockedTarget as exc:
                error, final = f"blocked: {exc}", True
            except OSError as exc:  # DNS, connection refused, timeout, TLS: retried like a 5xx
                error = f"{type(exc).__name__}: {exc}"[:300]
        if error is None:
            status, next_at = "delivered", None
        elif final or attempt >= self._max_attempts:
            status, next_at = "failed", None
        else:
            status = "pending"
            next_at = datetime.fromtimestamp(now, UTC) + timedelta(seconds=self.backoff_seconds(attempt))
        self._queue.record_delivery_attempt(
            delivery_id,
            attempt=attempt,
            status=status,
            response_code=code,
            error=error,
            next_attempt_at=next_at,
        )
        if error:
            logger.warning(
                "webhook attempt failed", extra={"delivery_id": delivery_id, "attempt": attempt, "error": error}
            )
        return DeliveryOutcome(delivery_id, status, attempt, code, error)

    def retry_due(self, *, limit: int = 200) -> list[DeliveryOutcome]:
        """Attempt every pending delivery whose backoff has elapsed (called each tick)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        due = self._queue.due_deliveries(now, limit)
        return [self.attempt(delivery_id) for delivery_id in due]
