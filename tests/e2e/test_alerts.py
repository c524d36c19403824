"""Alerts end to end through `tidewatch dev`: a rule fires and its alert arrives once by email at the
local SMTP server, at the Telegram-shaped stub, at a Discord-shaped receiver and as a Web Push the
test decrypts — also when the same market event is delivered twice."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_SECRET
from .devserver import DevServer, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DISCORD_PATH = "/api/webhooks/223456789012345678/" + "e2e" * 12


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def wait_for(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def mails(home: Path) -> list[Any]:
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted((home / "mail").glob("*.eml"))]


def test_an_alert_reaches_every_channel_exactly_once(dev: DevServer, dev_database_url: str) -> None:
    assert dev.providers is not None
    stub = dev.providers
    # Given a signed-in user on the pro plan
    user = sign_in(dev.url, dev.port, seed=111)
    with psycopg.connect(dev_database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET plan = 'pro' WHERE address = %s", (user["user"]["address"],))
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    api = f"{dev.url}/api"
    address = f"e2e-{os.getpid()}@example.com"
    # And an email address confirmed by its signed link (mailed to the local SMTP server)
    email = httpx.post(f"{api}/alerts/destinations", json={"kind": "email", "address": address}, headers=auth)
    assert email.status_code == 201, email.text
    wait_for("the confirmation mail", lambda: any(m["To"] == address for m in mails(dev.home)), 30)
    confirmation = next(m for m in mails(dev.home) if m["To"] == address)
    link = re.search(r"http://\S+/alerts/email/verify\?token=\S+", confirmation.get_body(("plain",)).get_content())
    assert link, confirmation
    assert httpx.get(link.group(0)).status_code == 200
    # And a Telegram chat linked by the /start code round trip through the bot's webhook
    code = httpx.post(f"{api}/alerts/telegram/codes", headers=auth).json()["code"]
    update = {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": 5550111, "is_bot": False, "first_name": "E2E"},
            "chat": {"id": 5550111, "type": "private", "first_name": "E2E"},
            "date": int(time.time()),
            "text": f"/start {code}",
        },
    }
    linked = httpx.post(
        f"{api}/alerts/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET},
    )
    assert linked.json()["handled"] is True, linked.text
    # And a Discord-shaped receiver and a browser push subscription
    discord = httpx.post(
        f"{api}/alerts/destinations", json={"kind": "discord", "url": stub.url + DISCORD_PATH}, headers=auth
    )
    assert discord.status_code == 201, discord.text
    browser = ec.generate_private_key(ec.SECP256R1())
    auth_secret = os.urandom(16)
    p256dh = b64(
        browser.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    push = httpx.post(
        f"{api}/alerts/destinations",
        json={
            "kind": "webpush",
            "endpoint": f"{stub.url}/push/e2e",
            "keys": {"p256dh": p256dh, "auth": b64(auth_secret)},
        },
        headers=auth,
    )
    assert push.status_code == 201, push.text
    states = {d["kind"]: d["state"] for d in httpx.get(f"{api}/alerts/destinations", headers=auth).json()}
    assert states == {"email": "active", "telegram": "active", "discord": "active", "webpush": "active"}
    # And a rule on a market that fires on the next market event (cadence 1 h: one window)
    wait_for("an ingested market", lambda: bool(httpx.get(f"{api}/markets", headers=auth).json()["items"]), 60)
    market = httpx.get(f"{api}/markets", headers=auth).json()["items"][0]
    market_id = market.get("id", market.get("market_id"))
    listener = redis.Redis.from_url(dev.redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("tw:events:market-changed")
    rule = httpx.post(
        f"{api}/rules",
        json={
            "name": "Any APY",
            "trigger": {
                "type": "market_apy",
                "market_id": market_id,
                "side": "supply",
                "op": "above",
                "threshold": -0.99,
            },
            "actions": [{"type": "deliver", "severity": "critical", "title": "E2E alert"}],
            "cadence_seconds": 3600,
            "cooldown_seconds": 0,
        },
        headers=auth,
    )
    assert rule.status_code == 201, rule.text

    def telegram_alerts() -> list[Any]:
        return [
            r
            for r in stub.to(f"/bot{TELEGRAM_TOKEN}/sendMessage")
            if "E2E alert" in r.json()["text"] or "APY" in r.json()["text"]
        ]

    def alert_mails() -> list[Any]:
        return [m for m in mails(dev.home) if m["To"] == address and "E2E alert" in str(m["Subject"])]

    # When the market changes (ingest publishes market.changed) and the rule fires
    wait_for(
        "the alert on every channel",
        lambda: bool(alert_mails() and telegram_alerts() and stub.to(DISCORD_PATH) and stub.to("/push/e2e")),
    )
    # ... and the same market event is delivered twice more (EventBridge is at least once)
    seen = None
    deadline = time.monotonic() + 30
    while seen is None and time.monotonic() < deadline:
        message = listener.get_message(timeout=1.0)
        if message and message.get("type") == "message" and json.loads(message["data"]).get("market_id") == market_id:
            seen = message["data"]
    assert seen is not None, "no market event of the rule's market to redeliver"
    publisher = redis.Redis.from_url(dev.redis_url)
    publisher.publish("tw:events:market-changed", seen)
    publisher.publish("tw:events:market-changed", seen)
    time.sleep(8)  # several schedule ticks and both redeliveries
    listener.close()
    # Then each destination received the alert exactly once
    assert len(alert_mails()) == 1
    assert len(telegram_alerts()) == 1
    assert telegram_alerts()[0].json()["chat_id"] == "5550111"
    assert len(stub.to(DISCORD_PATH)) == 1
    [received] = stub.to("/push/e2e")
    import http_ece

    shown = json.loads(
        http_ece.decrypt(received.body, private_key=browser, auth_secret=auth_secret, version="aes128gcm")
    )
    assert shown["title"] == "[Tidewatch] E2E alert"
    assert shown["url"].startswith(dev.url)
    # And the delivery log shows four delivered alerts
    log = httpx.get(f"{api}/alerts/deliveries", headers=auth).json()
    assert sorted(d["status"] for d in log) == ["delivered"] * 4
