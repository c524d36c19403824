"""Delivery: every channel over real HTTP/SMTP on loopback, exactly once per (firing, destination),
retries honouring the providers' rate limits, dead letters, quiet hours, bounces."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import jwt
import pytest

from tests.integration.alerts.conftest import BOT_TOKEN, DISCORD_PATH, SLACK_PATH, Clock, Subscription, seed
from tidewatch.alerts.action import AlertDispatcher
from tidewatch.alerts.outbox import DeliveryWorker, Outbox, ThreadDeliveryQueue
from tidewatch.db import Database
from tidewatch.rules.actions import ActionRunner, Firing
from tidewatch.rules.model import DeliverAction
from tidewatch_local.alert_providers import (
    DISCORD_UNKNOWN,
    TELEGRAM_BLOCKED,
    Mailbox,
    ProviderStub,
    discord_rate_limited,
    telegram_rate_limited,
)

pytestmark = pytest.mark.integration


def dispatcher(db: Database, outbox: Outbox) -> AlertDispatcher:
    return AlertDispatcher(db, outbox, dashboard_url="http://localhost:8000")


def fire(alerts: AlertDispatcher, ids: dict[str, int], **overrides: object) -> dict[str, object]:
    args: dict[str, object] = {
        "execution_id": ids["execution"],
        "rule_id": ids["rule"],
        "user_id": ids["alice"],
        "portfolio_id": ids["portfolio"],
        "rule_name": "Aave loan",
        "observed": {"trigger_value": 1.0834, "at": "2026-11-24T12:00:00+00:00"},
        "window_key": "60:1",
        "destinations": None,
        "severity": "critical",
        "title": None,
    }
    args.update(overrides)
    return alerts.deliver(**args)  # type: ignore[arg-type]


def statuses(db: Database) -> dict[int, str]:
    with db.connection() as conn:
        rows = conn.execute("SELECT destination_id, status FROM alert_deliveries ORDER BY id").fetchall()
    return {int(r["destination_id"]): str(r["status"]) for r in rows}


def test_a_firing_reaches_every_channel_exactly_once_even_when_delivered_twice(
    db: Database,
    worker: DeliveryWorker,
    stub: ProviderStub,
    mailbox: Mailbox,
    subscription: Subscription,
    clock: Clock,
) -> None:
    ids = seed(db, stub, subscription)
    queue = ThreadDeliveryQueue(worker, workers=4)
    alerts = dispatcher(db, Outbox(db, queue, clock=clock.dt))
    try:
        # When the firing's deliver action runs twice (a redelivered event, a retried Lambda)
        first = fire(alerts, ids)
        second = fire(alerts, ids)
        assert queue.drain(10)
        # ... and the queue hands the same ids to the worker again (SQS delivers at least once)
        for delivery_id in first["deliveries"]:  # type: ignore[attr-defined]
            assert worker.process(delivery_id).outcome == "not-due"
    finally:
        queue.close()
    # Then there is one outbox row per destination, each delivered once
    assert len(first["deliveries"]) == 5  # type: ignore[arg-type]
    assert statuses(db) == {ids[k]: "delivered" for k in ("email", "telegram", "discord", "slack", "webpush")}
    assert set(second["deliveries"]) <= set(first["deliveries"])  # type: ignore[call-overload]  # no new rows
    # Telegram got one sendMessage to the linked chat, with the numbers in plain words
    [telegram] = stub.to(f"/bot{BOT_TOKEN}/sendMessage")
    assert telegram.json()["chat_id"] == "987654321"
    assert "Health factor 1.083 is below your threshold of 1.10" in telegram.json()["text"]
    # Discord (wait=true, no mentions) and Slack got one message each
    [discord] = stub.to(DISCORD_PATH)
    assert discord.path.endswith("?wait=true")
    assert discord.json()["allowed_mentions"] == {"parse": []}
    assert "http://localhost:8000/portfolios/" in discord.json()["content"]
    [slack] = stub.to(SLACK_PATH)
    assert "below your threshold" in slack.json()["text"]
    # The push arrived encrypted (aes128gcm) and decrypts with the subscription's keys (RFC 8291)
    [push] = stub.to("/push/alice-browser")
    assert push.headers["Content-Encoding"] == "aes128gcm"
    assert push.headers["Urgency"] == "high"
    shown = subscription.decrypt(push.body)
    assert shown["title"].startswith("[Tidewatch] Health factor 1.083")  # type: ignore[union-attr]
    # ... with a VAPID JWT for the push service's origin, signed by our key (RFC 8292)
    scheme, _, params = push.headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    claims = jwt.decode(
        fields["t"], worker_key(worker), algorithms=["ES256"], audience=stub.url, options={"verify_exp": False}
    )
    assert claims["exp"] == int(clock.now) + 12 * 3600
    assert claims["sub"] == "mailto:ops@tidewatch.dev"
    # One mail arrived at the SMTP server: text + HTML, one-click unsubscribe headers
    [mail] = mailbox.messages()
    assert mail["To"] == "alice@example.com"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["List-Unsubscribe"].startswith("<http://127.0.0.1/alerts/unsubscribe?token=")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Health factor 1.083 is below your threshold of 1.10." in text
    assert "Unsubscribe</a>" in html
    # The user's delivery log shows one delivered attempt per destination with its latency
    with db.connection() as conn:
        attempts = conn.execute("SELECT outcome, latency_ms FROM alert_delivery_attempts").fetchall()
    assert [a["outcome"] for a in attempts] == ["delivered"] * 5
    assert all(a["latency_ms"] >= 0 for a in attempts)


def worker_key(worker: DeliveryWorker) -> str:
    push = worker._channels["webpush"]
    return push._keys.public_pem  # type: ignore[attr-defined]


def test_rate_limits_are_honoured_and_a_blocked_bot_disables_the_chat(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    alerts = dispatcher(db, Outbox(db, None, clock=clock.dt))
    # Given Telegram answers 429 retry_after=120, and Discord 429 Retry-After 45 then 404
    stub.script(f"/bot{BOT_TOKEN}/", telegram_rate_limited(120))
    stub.script(DISCORD_PATH, discord_rate_limited(45))
    delivery = {
        d: i
        for i, d in zip(
            fire(alerts, ids, destinations=[ids["telegram"], ids["discord"]])["deliveries"],
            ["telegram", "discord"],
            strict=True,
        )
    }  # type: ignore[call-overload]
    # When the worker sends
    telegram = worker.process(delivery["telegram"])
    discord = worker.process(delivery["discord"])
    # Then each waits at least what the provider asked (our own backoff is 10 s)
    assert (telegram.outcome, telegram.retry_in) == ("retry", 120)
    assert (discord.outcome, discord.retry_in) == ("retry", 45)
    # ... and is not sent before that
    clock.advance(44)
    assert worker.process(delivery["discord"]).outcome == "not-due"
    clock.advance(2)
    stub.script(DISCORD_PATH, DISCORD_UNKNOWN)
    # When Discord then answers 404 Unknown Webhook: dead, destination disabled, no more retries
    assert worker.process(delivery["discord"]).outcome == "dead"
    clock.advance(120)
    stub.script(f"/bot{BOT_TOKEN}/", TELEGRAM_BLOCKED)
    assert worker.process(delivery["telegram"]).outcome == "dead"
    with db.connection() as conn:
        disabled = {
            int(r["id"]): r["disabled_reason"]
            for r in conn.execute(
                "SELECT id, disabled_reason FROM alert_destinations WHERE disabled_reason IS NOT NULL"
            )
        }
        log = conn.execute(
            "SELECT outcome, response_code, response FROM alert_delivery_attempts WHERE delivery_id = %s ORDER BY id",
            (delivery["telegram"],),
        ).fetchall()
    assert disabled == {
        ids["telegram"]: "Forbidden: bot was blocked by the user",
        ids["discord"]: "the provider answered HTTP 404",
    }
    assert [(a["outcome"], a["response_code"]) for a in log] == [("retry", 429), ("failed", 403)]
    assert "retry after 120" in log[0]["response"]
    # And a later firing skips the disabled destinations
    assert stub.to(f"/bot{BOT_TOKEN}/") == []


def test_after_max_attempts_a_delivery_is_dead(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    alerts = dispatcher(db, Outbox(db, None, clock=clock.dt))
    # Given a Slack hook answering 503 every time
    from tidewatch_local.alert_providers import Scripted

    stub.script(SLACK_PATH, *[Scripted(503, b"service unavailable")] * 4)
    [delivery_id] = fire(alerts, ids, destinations=[ids["slack"]])["deliveries"]  # type: ignore[misc]
    outcomes = []
    delays = []
    for _ in range(4):
        result = worker.process(delivery_id)
        outcomes.append(result.outcome)
        delays.append(result.retry_in)
        clock.advance(3600)
    # Then backoff doubles (10, 20, 40 s) and the 4th failure is the dead letter
    assert outcomes == ["retry", "retry", "retry", "dead"]
    assert delays[:3] == [10, 20, 40]
    assert statuses(db)[ids["slack"]] == "dead"


def test_quiet_hours_hold_all_but_critical_until_morning(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    # Given quiet hours 22:00-07:00 in Berlin and it is 23:30 there
    clock.now = datetime(2026, 11, 24, 22, 30, tzinfo=UTC).timestamp()
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO alert_preferences (user_id, timezone, quiet_start, quiet_end, quiet_min_severity) "
            "VALUES (%s, 'Europe/Berlin', '22:00', '07:00', 'critical')",
            (ids["alice"],),
        )
        second = conn.execute(
            "INSERT INTO rule_executions (rule_id, window_key, fired) VALUES (%s, '60:2', true) RETURNING id",
            (ids["rule"],),
        ).fetchone()
    assert second
    alerts = dispatcher(db, Outbox(db, None, clock=clock.dt))
    # When a warning and a critical alert fire to Slack
    [warning] = fire(alerts, ids, destinations=[ids["slack"]], severity="warning")["deliveries"]  # type: ignore[misc]
    [critical] = fire(alerts, ids, execution_id=int(second["id"]), destinations=[ids["slack"]])["deliveries"]  # type: ignore[misc]
    # Then the critical one goes out at once, the warning waits until 07:00 Berlin (06:00 UTC)
    assert worker.process(critical).outcome == "delivered"
    assert worker.process(warning).outcome == "not-due"
    with db.connection() as conn:
        row = conn.execute(
            "SELECT next_attempt_at, last_error FROM alert_deliveries WHERE id = %s", (warning,)
        ).fetchone()
    assert row
    assert row["next_attempt_at"] == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert "quiet hours" in row["last_error"]
    clock.now = datetime(2026, 11, 25, 6, 0, tzinfo=UTC).timestamp()
    assert worker.process(warning).outcome == "delivered"
    assert len(stub.to(SLACK_PATH)) == 2


def test_a_hard_bounce_suppresses_the_address(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, mailbox: Mailbox, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    with db.connection() as conn:
        conn.execute("UPDATE alert_destinations SET target = 'gone@example.org' WHERE id = %s", (ids["email"],))
        second = conn.execute(
            "INSERT INTO rule_executions (rule_id, window_key, fired) VALUES (%s, '60:2', true) RETURNING id",
            (ids["rule"],),
        ).fetchone()
    assert second
    alerts = dispatcher(db, Outbox(db, None, clock=clock.dt))
    # When the receiving server refuses the recipient with 550 5.1.1
    [first] = fire(alerts, ids, destinations=[ids["email"]])["deliveries"]  # type: ignore[misc]
    assert worker.process(first).outcome == "dead"
    # Then the address is suppressed and the next alert to it is skipped without a send
    [later] = fire(alerts, ids, execution_id=int(second["id"]), destinations=[ids["email"]])["deliveries"]  # type: ignore[misc]
    assert worker.process(later).outcome == "skipped"
    with db.connection() as conn:
        suppressed = conn.execute("SELECT address, reason FROM email_suppressions").fetchall()
    assert [(r["address"], r["reason"]) for r in suppressed] == [("gone@example.org", "bounce")]
    assert mailbox.messages() == []


def test_two_workers_given_the_same_delivery_send_once(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    stub.latency = 0.2
    alerts = dispatcher(db, Outbox(db, None, clock=clock.dt))
    [delivery_id] = fire(alerts, ids, destinations=[ids["discord"]])["deliveries"]  # type: ignore[misc]
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(worker.process(delivery_id).outcome)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["delivered", "not-due", "not-due", "not-due"]
    assert len(stub.to(DISCORD_PATH)) == 1


def test_the_action_runner_delivers_after_the_firings_other_actions(
    db: Database, worker: DeliveryWorker, stub: ProviderStub, subscription: Subscription, clock: Clock
) -> None:
    ids = seed(db, stub, subscription)
    alerts = dispatcher(db, Outbox(db, None, clock=clock.dt))
    runner = ActionRunner(db, pusher=None, preparer=None, webhooks=None, alerts=alerts, backoff_seconds=0)
    firing = Firing(
        execution_id=ids["execution"],
        rule_id=ids["rule"],
        user_id=ids["alice"],
        portfolio_id=ids["portfolio"],
        rule_name="Aave loan",
        window_key="60:1",
        fired_at=datetime(2026, 11, 24, 12, tzinfo=UTC),
        observed={"trigger_value": 1.0834},
        actions=[DeliverAction(type="deliver", destinations=[ids["slack"]])],
    )
    # When the same firing's actions run twice
    first = runner.run([firing])
    runner.run([firing])
    # Then one delivery exists and the execution records it
    [result] = first[ids["execution"]]
    assert result.ok
    assert result.type == "deliver"
    assert len(result.detail["deliveries"]) == 1
    assert len(statuses(db)) == 1
