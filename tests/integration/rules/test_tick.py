"""A tick against real Postgres: firing, idempotency under a duplicated event, cooldown, actions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from tests.fakes.rules import DownPreparer, FakeMarkets, FakePusher, FakeRisk, FlakyPreparer
from tests.integration.rules.seeds import KEY, insert_rule, seed_user
from tidewatch.db import Database
from tidewatch.rules.actions import ActionRunner
from tidewatch.rules.egress import EgressPolicy
from tidewatch.rules.engine import window_key
from tidewatch.rules.tick import TickSources, run_tick
from tidewatch.rules.webhooks import SIGNATURE_HEADER, WebhookSender, verify, webhook_secret

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
# Test receivers listen on loopback, which the production policy refuses.
LOOPBACK_ALLOWED = EgressPolicy(allow_loopback=True)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(_Receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def runner(db: Database, pusher: FakePusher, preparer: FlakyPreparer | None = None, **kw: Any) -> ActionRunner:
    return ActionRunner(db, pusher=pusher, preparer=preparer, webhooks=kw.get("webhooks"), backoff_seconds=0.0)


def test_fires_once_under_a_duplicated_event_and_respects_cooldown(db: Database) -> None:
    # Given a rule "USDC supply APY above 5 %" and a snapshot at 6 %
    user_id, _ = seed_user(db)
    rule_id = insert_rule(
        db,
        user_id,
        {
            "name": "usdc high",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
            "actions": [{"type": "notify", "title": "USDC pays more than 5 %"}],
        },
    )
    pusher = FakePusher()
    sources = TickSources(markets=FakeMarkets({1: 0.06}))
    # When the same scheduled event is delivered twice
    first = run_tick(at=AT, database=db, sources=sources, runner=runner(db, pusher))
    # (a concurrent duplicate that still saw the rule armed: reset armed to simulate the race)
    with db.connection() as conn:
        conn.execute("UPDATE rules SET armed = true, last_fired_at = NULL")
    second = run_tick(at=AT + timedelta(seconds=5), database=db, sources=sources, runner=runner(db, pusher))
    # Then the rule fired once: one execution, one notification, one push to its owner
    assert (first.fired, second.fired, second.duplicates) == (1, 0, 1)
    with db.connection() as conn:
        executions = conn.execute("SELECT rule_id, window_key, actions FROM rule_executions").fetchall()
        notifications = conn.execute("SELECT user_id, title FROM notifications").fetchall()
    assert [(e["rule_id"], e["window_key"]) for e in executions] == [(rule_id, window_key(60, AT.timestamp()))]
    assert executions[0]["actions"][0]["ok"] is True
    assert notifications == [{"user_id": user_id, "title": "USDC pays more than 5 %"}]
    assert [(u, m["type"]) for u, m in pusher.messages] == [(user_id, "notification")]

    # When the condition clears and returns within the cooldown, the rule re-arms but does not fire
    with db.connection() as conn:  # (the state the first delivery left, before our simulated race)
        conn.execute("UPDATE rules SET armed = false, last_fired_at = %s", (AT,))
    low = run_tick(
        at=AT + timedelta(minutes=10),
        database=db,
        sources=TickSources(FakeMarkets({1: 0.01})),
        runner=runner(db, pusher),
    )
    again = run_tick(at=AT + timedelta(minutes=20), database=db, sources=sources, runner=runner(db, pusher))
    assert (low.rearmed, again.matched, again.fired) == (1, 1, 0)
    # And after the cooldown (1 h) it fires again
    later = run_tick(at=AT + timedelta(hours=1, minutes=1), database=db, sources=sources, runner=runner(db, pusher))
    assert later.fired == 1


def test_failing_action_is_retried_and_does_not_block_others(db: Database, receiver: str) -> None:
    # Given a risk rule with three actions: prepare a repay (wallet fails once), webhook, notify
    user_id, portfolio_id = seed_user(db)
    rule_id = insert_rule(
        db,
        user_id,
        {
            "name": "risk",
            "portfolio_id": portfolio_id,
            "trigger": {"type": "risk_forecast_above", "threshold": 0.3},
            "actions": [
                {"type": "prepare_transaction", "intent": {"kind": "repay_to_health_factor", "market_id": 2}},
                {"type": "webhook", "url": receiver},
                {"type": "notify"},
            ],
        },
    )
    risk = FakeRisk()
    preparer = FlakyPreparer()
    pusher = FakePusher()
    webhooks = WebhookSender(db, KEY, egress=LOOPBACK_ALLOWED, clock=lambda: AT.timestamp())
    # When the tick runs
    report = run_tick(
        at=AT,
        database=db,
        sources=TickSources(markets=FakeMarkets({2: 0.03}), risk=risk),
        runner=ActionRunner(db, pusher=pusher, preparer=preparer, webhooks=webhooks, backoff_seconds=0.0),
    )
    # Then risk was scored in one batched call, the wallet was retried, every action succeeded
    assert risk.calls == [[(portfolio_id, 24)]]
    assert report.fired == 1
    assert report.action_failures == 0
    assert len(preparer.requests) == 2
    assert preparer.requests[0].idempotency_key == preparer.requests[1].idempotency_key
    assert {m["type"] for _, m in pusher.messages} == {"transaction_prepared", "notification"}
    # And the webhook arrived signed with the rule's secret, verifiable by the receiver
    [(headers, body)] = _Receiver.received
    assert verify(webhook_secret(KEY, rule_id), headers[SIGNATURE_HEADER], body, now=AT.timestamp())
    assert not verify(webhook_secret(KEY, rule_id + 1), headers[SIGNATURE_HEADER], body, now=AT.timestamp())
    assert json.loads(body)["rule_id"] == rule_id
    with db.connection() as conn:
        delivery = conn.execute("SELECT status, attempt, response_code FROM webhook_deliveries").fetchone()
    assert delivery == {"status": "delivered", "attempt": 1, "response_code": 200}


def test_webhook_retries_with_exponential_backoff_then_delivers(db: Database, receiver: str) -> None:
    # Given a receiver that answers 503
    user_id, _ = seed_user(db)
    rule_id = insert_rule(
        db,
        user_id,
        {
            "name": "hook",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "below", "threshold": 0.5},
            "actions": [{"type": "webhook", "url": receiver}],
        },
    )
    now = [AT.timestamp()]
    sender = WebhookSender(db, KEY, backoff_base_seconds=30, egress=LOOPBACK_ALLOWED, clock=lambda: now[0])
    _Receiver.status = 503
    # When the first attempt fails
    first = sender.send(rule_id, receiver, {"event": "rule.fired"})
    assert (first.status, first.attempt, first.response_code) == ("pending", 1, 503)
    # Then nothing is retried before the backoff (30 s), the second failure waits 60 s
    now[0] += 29
    assert sender.retry_due() == []
    now[0] += 1
    assert [o.attempt for o in sender.retry_due()] == [2]
    now[0] += 59
    assert sender.retry_due() == []
    # And once the receiver recovers, the next due retry delivers
    _Receiver.status = 200
    now[0] += 1
    [third] = sender.retry_due()
    assert (third.status, third.attempt) == ("delivered", 3)
    assert len(_Receiver.received) == 3


def test_rule_cache_reparses_only_changed_rules_and_drops_disabled(db: Database) -> None:
    from tidewatch.rules.store import RuleCache

    # Given two enabled rules loaded once
    user_id, _ = seed_user(db)
    spec = {
        "name": "a",
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
        "actions": [{"type": "notify"}],
    }
    first = insert_rule(db, user_id, spec)
    second = insert_rule(db, user_id, {**spec, "name": "b"})
    cache = RuleCache()
    assert cache.load(db).threshold.tolist() == [0.05, 0.05]
    # When one rule's trigger is edited (updated_at bumps) and the other is disabled
    edited = {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.07}
    with db.connection() as conn:
        conn.execute(
            "UPDATE rules SET definition = jsonb_set(definition, '{trigger}', %s::jsonb), updated_at = now() "
            "WHERE id = %s",
            (json.dumps(edited), first),
        )
        conn.execute("UPDATE rules SET enabled = false WHERE id = %s", (second,))
    rules = cache.load(db)
    # Then the next load sees the new threshold and only the enabled rule
    assert rules.rule_id.tolist() == [first]
    assert rules.threshold.tolist() == [0.07]


def test_webhooks_to_private_addresses_are_refused_without_retry(db: Database, receiver: str) -> None:
    # Given the production setting (private targets not allowed) and a loopback URL
    user_id, _ = seed_user(db)
    rule_id = insert_rule(
        db,
        user_id,
        {
            "name": "ssrf",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "below", "threshold": 0.5},
            "actions": [{"type": "webhook", "url": receiver}],
        },
    )
    outcome = WebhookSender(db, KEY).send(rule_id, receiver, {"event": "rule.fired"})
    # Then nothing is sent, the delivery fails at once and says why
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "loopback" in outcome.error
    assert _Receiver.received == []


def test_failed_actions_are_retried_by_later_ticks_and_lost_ones_run(db: Database) -> None:
    # Given a rule whose prepare action fails every in-tick try (the wallet is down)
    user_id, portfolio_id = seed_user(db)
    rule_id = insert_rule(
        db,
        user_id,
        {
            "name": "move",
            "portfolio_id": portfolio_id,
            "trigger": {"type": "apy_spread", "market_id": 1, "other_market_id": 2, "op": "below", "threshold": 0},
            "actions": [
                {"type": "notify"},
                {
                    "type": "prepare_transaction",
                    "intent": {"kind": "move_supply", "from_market_id": 1, "to_market_id": 2},
                },
            ],
        },
    )
    preparer = DownPreparer()
    pusher = FakePusher()
    action_runner = ActionRunner(db, pusher=pusher, preparer=preparer, webhooks=None, backoff_seconds=0.0)
    sources = TickSources(markets=FakeMarkets({1: 0.03, 2: 0.05}))
    first = run_tick(at=AT, database=db, sources=sources, runner=action_runner)
    assert (first.fired, first.action_failures, preparer.calls) == (1, 1, 3)
    # When the wallet recovers and the next scheduled tick runs (the rule itself is disarmed)
    preparer.up = True
    second = run_tick(at=AT + timedelta(minutes=1), database=db, sources=sources, runner=action_runner)
    # Then only the failed action was re-run, and the execution is now clean
    assert (second.fired, second.actions_retried) == (0, 1)
    with db.connection() as conn:
        execution = conn.execute("SELECT actions, error FROM rule_executions").fetchone()
        assert conn.execute("SELECT count(*) AS n FROM notifications").fetchone() == {"n": 1}
    assert execution is not None
    assert [a["ok"] for a in execution["actions"]] == [True, True]
    assert execution["error"] is None
    third = run_tick(at=AT + timedelta(minutes=2), database=db, sources=sources, runner=action_runner)
    assert third.actions_retried == 0

    # And a firing claimed by a function that died before acting is completed by a later tick
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO rule_executions (rule_id, window_key, evaluated_at, fired) VALUES (%s, 'lost', %s, true)",
            (rule_id, AT + timedelta(minutes=1)),
        )
    fourth = run_tick(at=AT + timedelta(minutes=5), database=db, sources=sources, runner=action_runner)
    assert fourth.actions_retried == 2
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM notifications").fetchone() == {"n": 2}
