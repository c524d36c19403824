"""The webhook sender over the `WebhookQueue` port (in-memory fake): retries back off and end,
each tick retries the longest waiting first, and every attempt signs the stored body anew.
Postgres tests cover redirects, egress and cancellation against a real HTTP server
(tests/integration/rules/test_webhook_egress.py, test_tick.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from tests.fakes.rules import InMemoryWebhookQueue
from tidewatch.rules.egress import EgressPolicy, HttpAnswer, Target
from tidewatch.rules.webhooks import SIGNATURE_HEADER, WebhookSender, verify, webhook_secret

KEY = b"unit-signing-key-0123456789"
RULE = 41
URL = "https://hooks.example.com/tidewatch"
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PUBLIC = EgressPolicy(resolve=lambda host, port: ["93.184.216.34"])


class Clock:
    def __init__(self) -> None:
        self.now = START.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


class Receiver:
    """An HTTP post that answers each call from `answers` (a status, or an OSError to raise)."""

    def __init__(self, *answers: int | OSError) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, target: Target, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpAnswer:
        self.posts.append((body, dict(headers)))
        answer = self.answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return HttpAnswer(answer)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> InMemoryWebhookQueue:
    return InMemoryWebhookQueue({RULE}, clock=clock.at)


def sender(queue: InMemoryWebhookQueue, clock: Clock, receiver: Receiver, *, max_attempts: int = 6) -> WebhookSender:
    return WebhookSender(
        queue, KEY, post=receiver, egress=PUBLIC, clock=clock, backoff_base_seconds=30, max_attempts=max_attempts
    )


def test_a_receiver_down_for_good_is_tried_max_attempts_times_then_given_up(
    queue: InMemoryWebhookQueue, clock: Clock
) -> None:
    # Given a receiver that refuses connections, answers 500, refuses again and times out
    receiver = Receiver(ConnectionRefusedError("refused"), 500, ConnectionRefusedError("refused"), TimeoutError("slow"))
    webhooks = sender(queue, clock, receiver, max_attempts=4)
    # When the firing is sent and every due retry runs as soon as it is due
    outcomes = [webhooks.send(RULE, URL, {"event": "rule.fired", "rule_id": RULE})]
    waits = []
    while outcomes[-1].status == "pending":
        retry_at = queue.rows[outcomes[-1].delivery_id]["next_attempt_at"]
        waits.append((retry_at - clock.at()).total_seconds())
        clock.now = retry_at.timestamp() - 1
        assert webhooks.retry_due() == []
        clock.now += 1
        outcomes += webhooks.retry_due()
    # Then a transport error is retried like a 5xx, the wait doubles, and the fourth failure ends it
    assert [(o.status, o.attempt, o.response_code) for o in outcomes] == [
        ("pending", 1, None),
        ("pending", 2, 500),
        ("pending", 3, None),
        ("failed", 4, None),
    ]
    assert waits == [30.0, 60.0, 120.0]
    assert [o.error for o in outcomes] == [
        "ConnectionRefusedError: refused",
        "HTTP 500",
        "ConnectionRefusedError: refused",
        "TimeoutError: slow",
    ]
    # And a delivery given up is never due again
    clock.now += 86_400
    assert webhooks.retry_due() == []
    assert len(receiver.posts) == 4


def test_every_attempt_sends_the_stored_body_signed_at_its_own_time(queue: InMemoryWebhookQueue, clock: Clock) -> None:
    # Given a receiver that answers 503 once, then 204
    receiver = Receiver(503, 204)
    webhooks = sender(queue, clock, receiver)
    # When the firing is sent and retried after its backoff
    first = webhooks.send(RULE, URL, {"rule_id": RULE, "event": "rule.fired", "observed": {"trigger_value": 0.25}})
    sent_at = clock.now
    clock.now += 30
    [second] = webhooks.retry_due()
    assert (first.status, second.status, second.attempt) == ("pending", "delivered", 2)
    # Then both posts carry the body as stored, byte for byte, and the delivery's id
    (body_1, headers_1), (body_2, headers_2) = receiver.posts
    assert body_1 == body_2 == str((queue.delivery(first.delivery_id) or {})["body"]).encode()
    assert json.loads(body_1) == {"rule_id": RULE, "event": "rule.fired", "observed": {"trigger_value": 0.25}}
    assert headers_1["Tidewatch-Delivery"] == headers_2["Tidewatch-Delivery"] == str(first.delivery_id)
    # And each is signed with the rule's secret at the time it was sent, verifiable by the receiver
    secret = webhook_secret(KEY, RULE)
    assert headers_1[SIGNATURE_HEADER] != headers_2[SIGNATURE_HEADER]
    assert verify(secret, headers_1[SIGNATURE_HEADER], body_1, now=sent_at)
    assert verify(secret, headers_2[SIGNATURE_HEADER], body_2, now=clock.now)
    assert not verify(webhook_secret(KEY, RULE + 1), headers_2[SIGNATURE_HEADER], body_2, now=clock.now)


def test_a_tick_retries_at_most_its_limit_longest_waiting_first(queue: InMemoryWebhookQueue, clock: Clock) -> None:
    # Given three deliveries that failed a minute apart
    receiver = Receiver(503, 503, 503, 200, 200, 200)
    webhooks = sender(queue, clock, receiver)
    failed = []
    for k in range(3):
        failed.append(webhooks.send(RULE, URL, {"event": "rule.fired", "n": k}).delivery_id)
        clock.now += 60
    # When a tick retries at most two, Then the two that waited longest go first
    assert [o.delivery_id for o in webhooks.retry_due(limit=2)] == failed[:2]
    # And the third goes out at the next tick
    assert [o.delivery_id for o in webhooks.retry_due(limit=2)] == failed[2:]
    assert [json.loads(body)["n"] for body, _ in receiver.posts] == [0, 1, 2, 0, 1, 2]
    assert {r["status"] for r in queue.rows.values()} == {"delivered"}
    assert queue.rows[failed[0]]["next_attempt_at"] is None
