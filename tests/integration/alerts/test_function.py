"""The rules function and the alerts function together: a duplicated market event alerts once on
every channel; SQS batches, the sweep and SES notifications through the alerts logic; SES via moto."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from alerts import logic
from alerts.deps import AlertsDeps
from alerts.events import SnsEvent, SqsEvent
from rules import logic as rules_logic
from rules.deps import build_deps
from tests.fakes.rules import RecordingPoster
from tests.integration.alerts.conftest import BOT_TOKEN, DISCORD_PATH, SLACK_PATH, Clock, Subscription, seed
from tests.integration.rules.seeds import seed_market_rates
from tidewatch.alerts.action import AlertDispatcher
from tidewatch.alerts.channels import Destination, SendContext, SesEmail
from tidewatch.alerts.messages import compose
from tidewatch.alerts.outbox import DeliveryWorker, Outbox, SqsDeliveryQueue, ThreadDeliveryQueue
from tidewatch.db import Database
from tidewatch.events import MarketChangedEvent, ScheduledEvent
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.repository import ConnectionStore
from tidewatch.rules.settings import RulesSettings
from tidewatch_local.alert_providers import Mailbox, ProviderStub, Scripted

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events"


def test_a_market_event_delivered_twice_alerts_each_destination_once(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, mailbox: Mailbox, subscription: Subscription, clock: Clock
) -> None:
    # Given Alice's rule "supply APY of market 1 above 5 %" delivering to her default destinations
    ids = seed(db, stub, subscription)
    seed_market_rates(db, 0.0512)
    with db.connection() as conn:
        conn.execute("DELETE FROM rule_executions")
        conn.execute(
            "UPDATE rules SET definition = %s::jsonb, portfolio_id = NULL WHERE id = %s",
            (
                json.dumps(
                    {
                        "trigger": {
                            "type": "market_apy",
                            "market_id": 1,
                            "side": "supply",
                            "op": "above",
                            "threshold": 0.05,
                            "hysteresis": 0.0,
                        },
                        "actions": [{"type": "deliver", "severity": "warning"}],
                    }
                ),
                ids["rule"],
            ),
        )
    queue = ThreadDeliveryQueue(worker, workers=4)
    alerts = AlertDispatcher(db, Outbox(db, queue, clock=clock.dt), dashboard_url="http://localhost:3000")
    deps = build_deps(
        db,
        settings=RulesSettings(),
        broadcaster=Broadcaster(ConnectionStore(db), RecordingPoster(), max_workers=2),
        alerts=alerts,
    )
    event = MarketChangedEvent.model_validate(json.loads((EVENTS / "rules" / "market-changed.json").read_text()))
    try:
        # When the same market.changed event arrives twice, the second racing the first
        first = rules_logic.evaluate_market_changed(event, deps=deps)
        with db.connection() as conn:
            conn.execute("UPDATE rules SET armed = true, last_fired_at = NULL")
        second = rules_logic.evaluate_market_changed(event, deps=deps)
        assert queue.drain(15)
    finally:
        queue.close()
    # Then the rule fired once, and every channel received exactly one alert
    assert (first["fired"], second["fired"], second["duplicates"]) == (1, 0, 1)
    assert len(mailbox.messages()) == 1
    assert len(stub.to(f"/bot{BOT_TOKEN}/sendMessage")) == 1
    assert len(stub.to(DISCORD_PATH)) == 1
    assert len(stub.to(SLACK_PATH)) == 1
    [push] = stub.to("/push/alice-browser")
    assert subscription.decrypt(push.body)["body"] == (
        "The supply APY of market 1 is 5.12 %, above your threshold of 5.00 %."
    )
    # And the execution records the deliver action's outbox rows
    with db.connection() as conn:
        [execution] = conn.execute("SELECT actions FROM rule_executions WHERE fired").fetchall()
    [action] = execution["actions"]
    assert action["type"] == "deliver"
    assert action["ok"]
    assert len(action["detail"]["deliveries"]) == 5


def test_queue_batches_sweep_and_ses_notifications(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    alerts = AlertDispatcher(db, Outbox(db, None, clock=clock.dt), dashboard_url="http://localhost:3000")
    queued = alerts.deliver(
        execution_id=ids["execution"],
        rule_id=ids["rule"],
        user_id=ids["alice"],
        portfolio_id=ids["portfolio"],
        rule_name="Aave loan",
        observed={"trigger_value": 1.05},
        window_key="60:1",
        destinations=[ids["discord"], ids["slack"]],
        severity="critical",
        title=None,
    )
    discord, slack = queued["deliveries"]  # in destination order (discord was created first)
    stub.script(SLACK_PATH, Scripted(429, b"rate_limited", {"Retry-After": "30"}))
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="alert-deliveries")["QueueUrl"]
        deps = AlertsDeps(db, worker, SqsDeliveryQueue(sqs, url))
        # When an SQS batch brings both ids (one of them twice) and a malformed message
        batch = SqsEvent.model_validate(
            {
                "Records": [
                    {"messageId": "m1", "body": json.dumps({"delivery_id": slack}), "eventSource": "aws:sqs"},
                    {"messageId": "m2", "body": json.dumps({"delivery_id": discord}), "eventSource": "aws:sqs"},
                    {"messageId": "m3", "body": json.dumps({"delivery_id": discord}), "eventSource": "aws:sqs"},
                    {"messageId": "m4", "body": "not json", "eventSource": "aws:sqs"},
                ]
            }
        )
        out = logic.handle_queue(batch, deps=deps)
        # Then Discord got one message, Slack's 429 was re-queued with its Retry-After as the delay
        assert out["batchItemFailures"] == []
        assert out["outcomes"] == {"retry": 1, "delivered": 1, "not-due": 1}
        assert len(stub.to(DISCORD_PATH)) == 1
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    # When the sweep runs after the wait, Slack is sent
    clock.advance(31)
    swept = logic.sweep(
        ScheduledEvent.model_validate(json.loads((EVENTS / "alerts" / "sweep.json").read_text())),
        deps=AlertsDeps(db, worker, None),
    )
    assert swept["outcomes"] == {"delivered": 1}
    assert len(stub.to(SLACK_PATH)) == 1
    # And the sample SES bounce notification suppresses its address
    ses = SnsEvent.model_validate(json.loads((EVENTS / "alerts" / "ses-bounce.json").read_text()))
    assert logic.handle_ses(ses, deps=AlertsDeps(db, worker, None)) == {"suppressed": 1}


def test_ses_sends_raw_mime_with_the_unsubscribe_headers_and_classifies_refusals() -> None:
    message = compose(
        rule_name="Aave loan",
        trigger={"type": "health_factor_below", "threshold": 1.2},
        observed={"trigger_value": 1.15, "at": "2026-11-24T12:00:00+00:00"},
        severity="critical",
        title=None,
        dashboard_url="https://app.example.com",
        portfolio_id=7,
        transaction_id="0b6f4e1c-0000-4000-8000-000000000001",
    )
    destination = Destination(1, 1, "email", "me", "alice@example.org")
    context = SendContext(5, "https://api.example.com/alerts/unsubscribe?token=abc.def")
    with mock_aws():
        client = boto3.client("sesv2", region_name="us-east-1")
        channel = SesEmail(client, sender="alerts@example.com")
        # An unverified sender identity is refused by SES: failed, not retried
        refused = channel.send(destination, message, context)
        assert (refused.outcome, refused.response.split(":")[0]) == ("failed", "MessageRejected")
        # With the domain verified, SES accepts the raw MIME message
        client.create_email_identity(EmailIdentity="example.com")
        sent = channel.send(destination, message, context)
        assert sent.outcome == "delivered"
        assert sent.response.startswith("MessageId ")
        from moto.ses.models import ses_backends

        [raw] = ses_backends["123456789012"]["us-east-1"].sent_messages
    mail = message_from_bytes(raw.raw_data.encode(), policy=policy.default)
    assert mail["List-Unsubscribe"] == "<https://api.example.com/alerts/unsubscribe?token=abc.def>"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Health factor 1.150 is below your threshold of 1.20." in text
    assert "https://app.example.com/portfolios/7" in text
    assert "https://app.example.com/transactions/0b6f4e1c-0000-4000-8000-000000000001" in text
