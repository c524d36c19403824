"""The delivery worker's rules over an in-memory outbox: sent at most once when delivered,
retried with backoff (never sooner than the provider asked), dead after the last attempt, skipped
for unsubscribed or suppressed addresses, and the provider's verdicts (disable, suppress) kept.
Postgres tests cover the repository, the lease under concurrency and the real channels
(tests/integration/alerts)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.fakes.alerts import T0, InMemoryDeliveries
from tidewatch.alerts.channels import Destination, SendContext, SendResult
from tidewatch.alerts.messages import AlertMessage
from tidewatch.alerts.outbox import DeliveryWorker

MESSAGE = AlertMessage(
    subject="HF below 1.2",
    headline="Health factor 1.15.",
    details=(),
    severity="warning",
    link=None,
    transaction_link=None,
).to_json()


@dataclass
class ScriptedChannel:
    """Answers each send with the next scripted result (the last one repeats)."""

    answers: list[SendResult | Exception]
    sent: list[tuple[int, int]] = field(default_factory=list)  # (delivery id, destination id)

    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult:
        self.sent.append((context.delivery_id, destination.id))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def outbox() -> InMemoryDeliveries:
    return InMemoryDeliveries()


@pytest.fixture
def now() -> list[float]:
    return [T0.timestamp()]


def worker(outbox: InMemoryDeliveries, now: list[float], **channels: ScriptedChannel) -> DeliveryWorker:
    return DeliveryWorker(
        outbox, channels, max_attempts=3, backoff_base_seconds=10, lease_seconds=60, clock=lambda: now[0]
    )


def test_a_delivered_row_is_never_sent_again(outbox: InMemoryDeliveries, now: list[float]) -> None:
    # Given a due delivery to a verified Telegram chat
    chat = ScriptedChannel([SendResult("delivered", 200, "ok")])
    delivery = outbox.add_delivery(outbox.add_destination("telegram", "4242"), MESSAGE)
    w = worker(outbox, now, telegram=chat)
    # When it is processed twice (SQS delivers at least once)
    first, second = w.process(delivery), w.process(delivery)
    # Then it was sent once, recorded delivered, and the second worker found nothing due
    assert (first.outcome, second.outcome) == ("delivered", "not-due")
    assert chat.sent == [(delivery, 1)]
    assert outbox.rows[delivery]["status"] == "delivered"
    assert [a["outcome"] for a in outbox.attempts] == ["delivered"]


def test_retries_back_off_respect_retry_after_and_end_dead(outbox: InMemoryDeliveries, now: list[float]) -> None:
    # Given a provider that keeps answering 429, once asking for 60 s
    chat = ScriptedChannel([SendResult("retry", 429, "slow down", retry_after=60), SendResult("retry", 503, "down")])
    delivery = outbox.add_delivery(outbox.add_destination("telegram", "4242"), MESSAGE)
    w = worker(outbox, now, telegram=chat)
    # When it is processed: the first wait is what the provider asked (over our 10 s), then 20 s
    first = w.process(delivery)
    assert (first.outcome, first.retry_in) == ("retry", 60)
    assert w.process(delivery).outcome == "not-due"  # not before its backoff
    now[0] += 60
    second = w.process(delivery)
    assert (second.outcome, second.retry_in) == ("retry", 20)
    now[0] += 20
    # Then the third attempt is the last: the row is dead and nothing is due any more
    assert w.process(delivery).outcome == "dead"
    assert outbox.rows[delivery]["status"] == "dead"
    assert [a["attempt"] for a in outbox.attempts] == [1, 2, 3]
    now[0] += 3600
    assert w.due() == []


def test_an_unsubscribed_or_suppressed_destination_is_skipped_unsent(
    outbox: InMemoryDeliveries, now: list[float]
) -> None:
    # Given one delivery to an address unsubscribed meanwhile and one to a suppressed address
    mail = ScriptedChannel([SendResult("delivered", 250, "ok")])
    gone = outbox.add_delivery(outbox.add_destination("email", "a@example.com", unsubscribed_at=T0), MESSAGE)
    outbox.suppressed.add("b@example.com")
    bounced = outbox.add_delivery(outbox.add_destination("email", "B@example.com"), MESSAGE)
    w = worker(outbox, now, email=mail)
    # When both are processed, Then both are skipped and no mail went out
    assert [w.process(gone).outcome, w.process(bounced).outcome] == ["skipped", "skipped"]
    assert mail.sent == []
    assert {outbox.rows[gone]["status"], outbox.rows[bounced]["status"]} == {"skipped"}


def test_the_providers_verdicts_disable_the_destination_and_suppress_the_address(
    outbox: InMemoryDeliveries, now: list[float]
) -> None:
    # Given a Discord webhook the provider deleted and a mail address that hard-bounced
    discord = ScriptedChannel([SendResult("failed", 404, "Unknown Webhook", disable="webhook deleted")])
    mail = ScriptedChannel([SendResult("failed", 550, "no such user", suppress="bounce")])
    hook = outbox.add_destination("discord", "https://discord.com/api/webhooks/1/x")
    box = outbox.add_destination("email", "Gone@Example.com")
    w = worker(outbox, now, discord=discord, email=mail)
    # When each is processed, Then it is dead at once, the webhook disabled and the address suppressed
    assert w.process(outbox.add_delivery(hook, MESSAGE)).outcome == "dead"
    assert w.process(outbox.add_delivery(box, MESSAGE)).outcome == "dead"
    assert outbox.destinations[hook]["disabled_reason"] == "webhook deleted"
    assert outbox.suppressed == {"gone@example.com"}


def test_a_channel_that_raises_or_is_missing_keeps_the_delivery_for_a_retry(
    outbox: InMemoryDeliveries, now: list[float]
) -> None:
    # Given a channel with a bug, and a destination kind this deployment has no channel for
    broken = ScriptedChannel([RuntimeError("boom")])
    buggy = outbox.add_delivery(outbox.add_destination("telegram", "4242"), MESSAGE)
    unconfigured = outbox.add_delivery(outbox.add_destination("slack", "https://hooks.slack.com/x"), MESSAGE)
    w = worker(outbox, now, telegram=broken)
    # When processed, Then neither is lost: both wait for a retry, with the reason kept
    assert [w.process(buggy).outcome, w.process(unconfigured).outcome] == ["retry", "retry"]
    assert outbox.rows[buggy]["last_error"] == "RuntimeError: boom"
    assert outbox.rows[unconfigured]["last_error"] == "channel slack not configured"


def test_a_send_whose_worker_died_is_claimed_again_after_its_lease(
    outbox: InMemoryDeliveries, now: list[float]
) -> None:
    # Given a delivery claimed by a worker that died mid-send (status sending, lease running)
    chat = ScriptedChannel([SendResult("delivered", 200, "ok")])
    delivery = outbox.add_delivery(outbox.add_destination("telegram", "4242"), MESSAGE)
    with outbox.session() as records:
        records.claim_delivery(delivery, now=T0, lease_until=T0.replace(minute=1))
    w = worker(outbox, now, telegram=chat)
    # When another worker tries within the lease, Then nothing is sent
    assert w.process(delivery).outcome == "not-due"
    # When the lease has expired, Then it is due again and sent (the second attempt)
    now[0] += 61
    assert w.due() == [delivery]
    assert w.process(delivery).outcome == "delivered"
    assert outbox.attempts[-1]["attempt"] == 2
