"""Destinations over the API: verification round trips, ownership (BOLA), unsubscribe, bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from api.routers.alerts import TelegramBot, create_router
from tests.integration.alerts.conftest import DISCORD_PATH, SLACK_PATH, Subscription
from tidewatch.alerts.channels import SmtpEmail
from tidewatch.alerts.destinations import DestinationService, DestinationSettings, apply_ses_notification
from tidewatch.alerts.outbox import Outbox
from tidewatch.alerts.repository import PostgresDestinations
from tidewatch.db import Database
from tidewatch.errors import DomainError, Unauthorized
from tidewatch.rules.egress import EgressPolicy
from tidewatch.rules.model import RuleSpec
from tidewatch.rules.repository import PostgresRules
from tidewatch.rules.service import RulesService
from tidewatch_local.alert_providers import Mailbox, ProviderStub

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "telegram-webhook-secret-0123456789"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@dataclass
class Claims:
    user_id: int


class MovableClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def authenticate(authorization: str = Header(default="")) -> Claims:
    if not authorization.startswith("Bearer user-"):
        raise Unauthorized("missing token")
    return Claims(int(authorization.removeprefix("Bearer user-")))


def as_user(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer user-{user_id}"}


@dataclass
class Api:
    client: TestClient
    replies: list[tuple[str, str]]
    clock: MovableClock
    alice: int
    bob: int


@pytest.fixture
def api(db: Database, mailbox: Mailbox, stub: ProviderStub) -> Iterator[Api]:
    with db.connection() as conn:
        alice = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "a" * 40,)).fetchone()
        bob = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "b" * 40,)).fetchone()
    assert alice
    assert bob
    clock = MovableClock()
    replies: list[tuple[str, str]] = []
    service = DestinationService(
        PostgresDestinations(db),
        DestinationSettings(
            link_key=b"k" * 32, api_url="http://testserver", chat_webhook_extra_hosts=frozenset({stub.host})
        ),
        # Names resolve to a public address; the stub's loopback host is allowed for the receivers.
        egress=EgressPolicy(allow_loopback=True, resolve=lambda host, port: ["93.184.215.14"]),
        email=SmtpEmail("127.0.0.1", mailbox.port, sender="alerts@tidewatch.local"),
        outbox=Outbox(db, None, clock=clock),
        clock=clock,
    )
    app = FastAPI()
    app.include_router(
        create_router(
            authenticate=authenticate,
            service=lambda: service,
            telegram=lambda: TelegramBot(WEBHOOK_SECRET, lambda chat, text: replies.append((chat, text))),
            push_key=lambda: "BPublicKey",
        )
    )

    @app.exception_handler(DomainError)
    def _problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return JSONResponse(exc.to_problem(), status_code=exc.status, media_type="application/problem+json")

    with TestClient(app) as client:
        yield Api(client, replies, clock, int(alice["id"]), int(bob["id"]))


def count(db: Database, table: str) -> int:
    with db.connection() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()  # type: ignore[arg-type]
    assert row
    return int(row["n"])


def link_in(mailbox: Mailbox, pattern: str) -> str:
    mail = mailbox.messages()[-1]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(pattern, text)
    assert found, text
    return found.group(0)


def test_an_email_is_used_only_after_its_owner_clicks_the_signed_link(db: Database, api: Api, mailbox: Mailbox) -> None:
    # When Alice adds an address
    created = api.client.post(
        "/alerts/destinations", json={"kind": "email", "address": "Alice@Example.COM"}, headers=as_user(api.alice)
    )
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "unverified"
    assert created.json()["target"] == "Alice@example.com"
    # Then a confirmation mail arrives with a signed link, and the address is not active yet
    link = link_in(mailbox, r"http://testserver/alerts/email/verify\?token=\S+")
    token = link.split("token=")[1]
    # A tampered token verifies nothing
    tampered = api.client.get(
        "/alerts/email/verify", params={"token": token[:-2] + ("AA" if not token.endswith("AA") else "BB")}
    )
    assert tampered.status_code == 422
    assert (
        api.client.get(f"/alerts/destinations/{created.json()['id']}", headers=as_user(api.alice)).json()["state"]
        == "unverified"
    )
    # When she clicks the link (no login)
    page = api.client.get("/alerts/email/verify", params={"token": token})
    assert page.status_code == 200
    assert "Address confirmed" in page.text
    assert (
        api.client.get(f"/alerts/destinations/{created.json()['id']}", headers=as_user(api.alice)).json()["state"]
        == "active"
    )
    # And a link older than 24 h is refused
    api.clock.now = NOW + timedelta(hours=25)
    assert api.client.get("/alerts/email/verify", params={"token": token}).status_code == 422


def test_bad_destinations_are_a_422_naming_the_field_and_nothing_is_stored(
    db: Database, api: Api, stub: ProviderStub
) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kind": "email", "address": "not-an-address"}, "address"),
        ({"kind": "email", "address": "a@b"}, "address"),
        ({"kind": "discord", "url": "https://evil.example/api/webhooks/123456789012345678/" + "x" * 30}, "url"),
        ({"kind": "discord", "url": "https://discord.com/api/users/@me"}, "url"),
        ({"kind": "slack", "url": "https://hooks.slack.com/services/nope"}, "url"),
        ({"kind": "slack", "url": "http://hooks.slack.com" + SLACK_PATH}, "url"),
        (
            {"kind": "webpush", "endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
            "keys.p256dh",
        ),
        (
            {
                "kind": "webpush",
                "endpoint": "http://169.254.169.254/latest",
                "keys": {"p256dh": "A" * 87, "auth": "A" * 22},
            },
            "endpoint",
        ),
    ]
    for body, field in bad:
        answer = api.client.post("/alerts/destinations", json=body, headers=as_user(api.alice))
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"] == field, (body, answer.json())
    assert count(db, "alert_destinations") == 0


def test_a_discord_url_inside_the_network_is_refused_by_the_egress_policy(db: Database, mailbox: Mailbox) -> None:
    # Given the real policy: discord.com resolving to a private address (DNS rebinding, split horizon)
    service = DestinationService(
        PostgresDestinations(db),
        DestinationSettings(link_key=b"k" * 32, api_url="http://testserver"),
        egress=EgressPolicy(resolve=lambda host, port: ["10.0.0.7"]),
    )
    from tidewatch.alerts.destinations import ChatWebhookDestinationIn
    from tidewatch.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        service.create(1, ChatWebhookDestinationIn(kind="discord", url="https://discord.com" + DISCORD_PATH))
    assert "private address" in refused.value.detail
    assert count(db, "alert_destinations") == 0


def test_destinations_belong_to_one_user(db: Database, api: Api, stub: ProviderStub) -> None:
    created = api.client.post(
        "/alerts/destinations", json={"kind": "discord", "url": stub.url + DISCORD_PATH}, headers=as_user(api.alice)
    )
    assert created.status_code == 201, created.text
    assert created.json()["target"].endswith("/…")  # the webhook token is never shown back
    did = created.json()["id"]
    # Bob cannot read, change, test, delete or see it
    for method, path in (
        ("GET", f"/alerts/destinations/{did}"),
        ("PATCH", f"/alerts/destinations/{did}"),
        ("DELETE", f"/alerts/destinations/{did}"),
        ("POST", f"/alerts/destinations/{did}/test"),
        ("POST", f"/alerts/destinations/{did}/resubscribe"),
    ):
        answer = api.client.request(method, path, headers=as_user(api.bob), json={} if method == "PATCH" else None)
        assert answer.status_code == 404, (method, path, answer.text)
    assert api.client.get("/alerts/destinations", headers=as_user(api.bob)).json() == []
    # ... nor name it in a rule of his
    rules = RulesService(PostgresRules(db), signing_key=b"x" * 32)
    spec = RuleSpec.model_validate(
        {
            "name": "steal",
            "cadence_seconds": 300,
            "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.1},
            "actions": [{"type": "deliver", "destinations": [did]}],
        }
    )
    from tidewatch.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        rules.create(api.bob, spec)
    assert refused.value.extra["errors"][0]["field"] == "actions.0.destinations"
    # ... while Alice can, and her test send is queued and logged under her account only
    assert rules.create(api.alice, spec).id > 0
    queued = api.client.post(f"/alerts/destinations/{did}/test", headers=as_user(api.alice))
    assert queued.status_code == 202
    assert len(queued.json()["deliveries"]) == 1
    assert len(api.client.get("/alerts/deliveries", headers=as_user(api.alice)).json()) == 1
    assert api.client.get("/alerts/deliveries", headers=as_user(api.bob)).json() == []


def telegram_update(chat_id: int, text: str, chat_type: str = "private") -> dict[str, Any]:
    # https://core.telegram.org/bots/api#update
    return {
        "update_id": 10000,
        "message": {
            "message_id": 1365,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Alice", "language_code": "en"},
            "chat": {"id": chat_id, "first_name": "Alice", "type": chat_type},
            "date": 1_795_960_800,
            "text": text,
        },
    }


def test_a_telegram_chat_is_linked_by_the_code_round_trip(db: Database, api: Api) -> None:
    code = api.client.post("/alerts/telegram/codes", headers=as_user(api.alice), json={"label": "phone"})
    assert code.status_code == 201
    value = code.json()["code"]
    hook = "/alerts/telegram/webhook"
    # A request without Telegram's secret-token header links nothing
    assert api.client.post(hook, json=telegram_update(42, f"/start {value}")).status_code == 401
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
    assert api.client.post(hook, json=telegram_update(42, f"/start {value}"), headers=wrong).status_code == 401
    assert count(db, "alert_destinations") == 0
    # When the chat sends /start <code> through the bot
    ok = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    linked = api.client.post(hook, json=telegram_update(42, f"/start {value}"), headers=ok)
    assert linked.status_code == 200
    assert linked.json()["handled"] is True
    [destination] = api.client.get("/alerts/destinations", headers=as_user(api.alice)).json()
    assert (destination["kind"], destination["target"], destination["state"], destination["label"]) == (
        "telegram",
        "42",
        "active",
        "phone",
    )
    assert api.replies[-1] == ("42", "Linked: Tidewatch alerts for your rules will arrive in this chat.")
    # A used code links nothing (another chat trying it is told so)
    again = api.client.post(hook, json=telegram_update(43, f"/start {value}"), headers=ok)
    assert again.json()["problem"]["status"] == 410
    assert "already used" in api.replies[-1][1]
    # An expired code links nothing either
    late = api.client.post("/alerts/telegram/codes", headers=as_user(api.bob)).json()["code"]
    api.clock.now = NOW + timedelta(minutes=11)
    expired = api.client.post(hook, json=telegram_update(44, f"/start {late}"), headers=ok)
    assert expired.json()["problem"]["status"] == 410
    assert "expired" in api.replies[-1][1]
    unknown = api.client.post(hook, json=telegram_update(45, "/start NOSUCHCODE1"), headers=ok)
    assert unknown.json()["problem"]["status"] == 404
    assert count(db, "alert_destinations") == 1


def verified_email(api: Api, mailbox: Mailbox, address: str) -> tuple[dict[str, Any], str]:
    """Alice's email destination for `address`, verified through its mailed link; the link's token."""
    created: dict[str, Any] = api.client.post(
        "/alerts/destinations", json={"kind": "email", "address": address}, headers=as_user(api.alice)
    ).json()
    token = link_in(mailbox, r"token=\S+").split("token=")[1]
    api.client.get("/alerts/email/verify", params={"token": token})
    return created, token


def test_an_unsubscribe_link_signed_for_another_address_writes_nothing(
    db: Database, api: Api, mailbox: Mailbox
) -> None:
    # Given alice's verified email destination
    created, _ = verified_email(api, mailbox, "dana@example.com")
    from tidewatch.alerts.tokens import make_token

    # When an unsubscribe link validly signed for that destination but another address is POSTed
    forged = make_token(b"k" * 32, "unsubscribe", created["id"], "mallory@example.com", expires_at=None)
    answer = api.client.post("/alerts/unsubscribe", params={"token": forged}, data={"List-Unsubscribe": "One-Click"})
    # Then it is a 404, and the destination row is untouched: still active, never unsubscribed
    assert answer.status_code == 404
    with db.connection() as conn:
        row = conn.execute("SELECT unsubscribed_at FROM alert_destinations WHERE id = %s", (created["id"],)).fetchone()
    assert row == {"unsubscribed_at": None}
    assert (
        api.client.get(f"/alerts/destinations/{created['id']}", headers=as_user(api.alice)).json()["state"] == "active"
    )
    # And a link for a destination id that does not exist writes nothing either
    missing = make_token(b"k" * 32, "unsubscribe", created["id"] + 1000, "dana@example.com", expires_at=None)
    assert api.client.post("/alerts/unsubscribe", params={"token": missing}).status_code == 404
    assert count(db, "alert_destinations") == 1


def test_one_click_unsubscribe_and_ses_suppression(db: Database, api: Api, mailbox: Mailbox) -> None:
    created, token = verified_email(api, mailbox, "carol@example.com")
    # Given the unsubscribe link of an alert mail
    from tidewatch.alerts.tokens import make_token

    unsub = make_token(b"k" * 32, "unsubscribe", created["id"], "carol@example.com", expires_at=None)
    # A GET shows a button and changes nothing (link scanners)
    page = api.client.get("/alerts/unsubscribe", params={"token": unsub})
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert (
        api.client.get(f"/alerts/destinations/{created['id']}", headers=as_user(api.alice)).json()["state"] == "active"
    )
    # When the mail client POSTs (RFC 8058 one-click), without any login
    done = api.client.post("/alerts/unsubscribe", params={"token": unsub}, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "carol@example.com" in done.text
    assert (
        api.client.get(f"/alerts/destinations/{created['id']}", headers=as_user(api.alice)).json()["state"]
        == "unsubscribed"
    )
    # A verify token is not an unsubscribe token
    assert api.client.post("/alerts/unsubscribe", params={"token": token}).status_code == 422
    # And an SES permanent bounce (SNS notification) suppresses an address for everyone
    suppressed = apply_ses_notification(
        db,
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "Dave@Example.com", "action": "failed", "status": "5.1.1"}],
                "timestamp": "2026-11-24T12:00:00.000Z",
                "feedbackId": "0100017-abc",
            },
            "mail": {"messageId": "0100017-msg", "destination": ["Dave@Example.com"]},
        },
    )
    assert suppressed == ["dave@example.com"]
    transient = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "eve@example.com"}]},
    }
    assert apply_ses_notification(db, transient) == []
    complaint = {
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "frank@example.com"}]},
    }
    assert apply_ses_notification(db, complaint) == ["frank@example.com"]


def test_quiet_hours_preferences_are_validated(api: Api) -> None:
    ok = api.client.put(
        "/alerts/preferences",
        json={
            "timezone": "Europe/Berlin",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "quiet_min_severity": "critical",
        },
        headers=as_user(api.alice),
    )
    assert ok.status_code == 200
    assert ok.json()["quiet_start"] == "22:00"
    for body in (
        {"timezone": "Mars/Olympus"},
        {"quiet_start": "25:00", "quiet_end": "07:00"},
        {"quiet_start": "22:00"},
    ):
        assert api.client.put("/alerts/preferences", json=body, headers=as_user(api.alice)).status_code == 422, body
    assert api.client.get("/alerts/preferences", headers=as_user(api.alice)).json()["timezone"] == "Europe/Berlin"


def test_a_push_subscription_is_stored_with_its_keys(
    db: Database, api: Api, stub: ProviderStub, subscription: Subscription
) -> None:
    body = {
        "kind": "webpush",
        "endpoint": stub.url + "/push/abc",
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth_b64},
        "expirationTime": None,
    }
    created = api.client.post("/alerts/destinations", json=body, headers=as_user(api.alice))
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "active"
    assert api.client.get("/alerts/push/key", headers=as_user(api.alice)).json() == {"public_key": "BPublicKey"}


def test_an_address_that_hard_bounces_the_confirmation_is_refused_and_not_stored(db: Database, api: Api) -> None:
    # When the receiving server refuses the confirmation mail with 550 5.1.1
    answer = api.client.post(
        "/alerts/destinations", json={"kind": "email", "address": "gone@example.org"}, headers=as_user(api.alice)
    )
    # Then the API answers 422 naming the address, and nothing is stored half-verified
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "address"
    assert "5.1.1" in answer.json()["detail"]
    assert count(db, "alert_destinations") == 0
