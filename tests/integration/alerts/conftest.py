"""Alert fixtures: users with verified destinations, provider stubs on loopback, a movable clock."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tidewatch.alerts.channels import ChatWebhook, SmtpEmail, Telegram, VapidKeys, WebPush
from tidewatch.alerts.outbox import DeliveryWorker
from tidewatch.alerts.repository import PostgresDeliveries
from tidewatch.db import Database
from tidewatch.rules.egress import EgressPolicy
from tidewatch_local.alert_providers import Mailbox, ProviderStub

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
DISCORD_PATH = "/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz0123456789ABCD"
SLACK_PATH = "/services/T0ABCDEFG/B0ABCDEFG/abcdefghijklmnopqrstuvwx"


class Clock:
    def __init__(self, start: datetime = NOW) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Subscription:
    """A browser's push subscription: its private key stays here to decrypt what arrives."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @property
    def auth_b64(self) -> str:
        return base64.urlsafe_b64encode(self.auth).rstrip(b"=").decode()

    def decrypt(self, body: bytes) -> dict[str, object]:
        import http_ece

        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        return dict(json.loads(plain))


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    server = ProviderStub()
    yield server
    server.close()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path / "mail", bounce=frozenset({"gone@example.org"}))
    yield box
    box.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vapid() -> VapidKeys:
    return VapidKeys.generate("mailto:ops@tidewatch.dev")


@pytest.fixture
def subscription() -> Subscription:
    import os

    return Subscription(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))


def channels(stub: ProviderStub, mailbox: Mailbox, vapid: VapidKeys, clock: Clock) -> dict[str, object]:
    loopback = EgressPolicy(allow_loopback=True)
    return {
        "email": SmtpEmail("127.0.0.1", mailbox.port, sender="alerts@tidewatch.local"),
        "telegram": Telegram(BOT_TOKEN, api_base=stub.url),
        "discord": ChatWebhook(loopback),
        "slack": ChatWebhook(loopback),
        "webpush": WebPush(vapid, loopback, clock=clock),
    }


@pytest.fixture
def worker(db: Database, stub: ProviderStub, mailbox: Mailbox, vapid: VapidKeys, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(
        PostgresDeliveries(db),
        channels(stub, mailbox, vapid, clock),  # type: ignore[arg-type]
        unsubscribe_link=lambda d: f"http://127.0.0.1/alerts/unsubscribe?token=t{d.id}" if d.kind == "email" else None,
        max_attempts=4,
        backoff_base_seconds=10,
        clock=clock,
    )


def insert_user(db: Database, n: int) -> int:
    """The id of a new user whose address is `n` in hex (the contract tests' worlds number theirs)."""
    with db.connection() as conn:
        row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + f"{n:040x}",)).fetchone()
    assert row
    return int(row["id"])


def seed(db: Database, stub: ProviderStub, subscription: Subscription) -> dict[str, int]:
    """Alice (with one verified destination of each kind, a rule and a firing) and Bob."""
    with db.connection() as conn:
        alice = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "a" * 40,)).fetchone()
        bob = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "b" * 40,)).fetchone()
        assert alice
        assert bob
        portfolio = conn.execute(
            "INSERT INTO portfolios (user_id, name) VALUES (%s, 'main') RETURNING id", (alice["id"],)
        ).fetchone()
        assert portfolio
        ids: dict[str, int] = {"alice": int(alice["id"]), "bob": int(bob["id"]), "portfolio": int(portfolio["id"])}
        for kind, target, secret in (
            ("email", "alice@example.com", {}),
            ("telegram", "987654321", {}),
            ("discord", stub.url + DISCORD_PATH, {}),
            ("slack", stub.url + SLACK_PATH, {}),
            (
                "webpush",
                stub.url + "/push/alice-browser",
                {"p256dh": subscription.p256dh, "auth": subscription.auth_b64},
            ),
        ):
            row = conn.execute(
                "INSERT INTO alert_destinations (user_id, kind, label, target, secret, verified_at) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, now()) RETURNING id",
                (alice["id"], kind, kind, target, json.dumps(secret)),
            ).fetchone()
            assert row
            ids[kind] = int(row["id"])
        definition = {
            "trigger": {"type": "health_factor_below", "threshold": 1.1, "hysteresis": 0.0},
            "actions": [{"type": "deliver", "severity": "critical"}],
        }
        rule = conn.execute(
            "INSERT INTO rules (user_id, portfolio_id, name, definition, cadence_seconds, cooldown_seconds) "
            "VALUES (%s, %s, 'Aave loan', %s::jsonb, 60, 0) RETURNING id",
            (alice["id"], portfolio["id"], json.dumps(definition)),
        ).fetchone()
        assert rule
        ids["rule"] = int(rule["id"])
        execution = conn.execute(
            "INSERT INTO rule_executions (rule_id, window_key, fired, observed) VALUES (%s, '60:1', true, %s::jsonb) "
            "RETURNING id",
            (rule["id"], json.dumps({"trigger_value": 1.0834, "at": NOW.isoformat()})),
        ).fetchone()
        assert execution
        ids["execution"] = int(execution["id"])
    return ids
