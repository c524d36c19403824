"""WebSocket routes and the broadcaster against real Postgres, with a recording post_to_connection."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from api.websocket import handle_connect, handle_default, handle_disconnect
from tests.fakes.rules import Claims, FakeMarkets, RecordingPoster
from tests.integration.rules.seeds import insert_rule, seed_users
from tidewatch.db import Database
from tidewatch.errors import Unauthorized
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.repository import ConnectionStore, PostgresPortfolioOwnership
from tidewatch.live.session import LiveSession
from tidewatch.rules.actions import ActionRunner
from tidewatch.rules.tick import TickSources, run_tick

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events" / "websocket"
SECRET = "test-jwt-secret-0123456789abcdef"


class JwtVerifier:
    """Stands in for the API's TokenService: HS256, audience checked, Unauthorized on any fault."""

    def verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="tidewatch-api")
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return Claims(int(claims["sub"]))


def token_for(user_id: int, secret: str = SECRET) -> str:
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "aud": "tidewatch-api", "iat": now, "exp": now + 600}, secret, "HS256")


def ws_event(name: str, connection_id: str, **changes: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text())
    event["requestContext"]["connectionId"] = connection_id
    event.update(changes)
    return event


def connect(session: LiveSession, connection_id: str, token: str | None) -> dict[str, Any]:
    return handle_connect(ws_event("ws-connect.json", connection_id, queryStringParameters={"token": token}), session)


def send(session: LiveSession, connection_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return handle_default(ws_event("ws-default-subscribe.json", connection_id, body=json.dumps(message)), session)


@pytest.fixture
def session(db: Database) -> LiveSession:
    return LiveSession(ConnectionStore(db), JwtVerifier(), PostgresPortfolioOwnership(db))


def test_bad_or_missing_token_is_refused(db: Database, session: LiveSession) -> None:
    alice, _, _, _ = seed_users(db)
    # Given a token signed with another key, an expired-looking garbage token, and none at all
    for token in (token_for(alice, secret="not-the-key-0123456789abcdef-0123456"), "garbage", None):
        # Then $connect answers 401 and nothing is stored
        assert connect(session, "c-bad", token)["statusCode"] == 401
    assert ConnectionStore(db).user_of("c-bad") is None


def test_subscribe_receive_market_update_and_own_notifications_only(db: Database, session: LiveSession) -> None:
    alice, alice_portfolio, bob, bob_portfolio = seed_users(db)
    store = ConnectionStore(db)
    # Given Alice and Bob connected with their tokens
    assert connect(session, "c-alice", token_for(alice))["statusCode"] == 200
    assert connect(session, "c-bob", token_for(bob))["statusCode"] == 200
    # When both subscribe to markets and notifications, and Bob also tries Alice's portfolio
    for conn_id in ("c-alice", "c-bob"):
        assert send(session, conn_id, {"action": "subscribe", "topic": "markets"})["statusCode"] == 200
        reply = send(session, conn_id, {"action": "subscribe", "topic": "notifications"})
        assert json.loads(reply["body"])["topics"] == ["markets", "notifications"]
    refused = send(session, "c-bob", {"action": "subscribe", "topic": f"portfolio:{alice_portfolio}"})
    assert refused["statusCode"] == 403
    assert send(session, "c-bob", {"action": "subscribe", "topic": "everything"})["statusCode"] == 422
    assert send(session, "c-bob", {"action": "dance"})["statusCode"] == 422

    poster = RecordingPoster()
    broadcaster = Broadcaster(store, poster, max_workers=4)
    # And a market update is published
    report = broadcaster.publish_market(1, {"supply_apy": 0.061})
    assert report.delivered == 2
    # And a rule of Alice's fires (its notify action pushes through the broadcaster)
    insert_rule(
        db,
        alice,
        {
            "name": "alice usdc",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
            "actions": [{"type": "notify"}],
        },
    )
    tick = run_tick(
        at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        database=db,
        sources=TickSources(FakeMarkets({1: 0.061})),
        runner=ActionRunner(db, pusher=broadcaster, preparer=None, webhooks=None),
    )
    assert tick.fired == 1
    # Then both got the market update, only Alice got her notification, on the stored endpoint
    assert [m["type"] for m in poster.sent["c-alice"]] == ["market", "notification"]
    assert [m["type"] for m in poster.sent["c-bob"]] == ["market"]
    assert poster.sent["c-alice"][1]["body"]["rule_name"] == "alice usdc"
    assert poster.endpoints == {"https://abc123.execute-api.us-east-1.amazonaws.com/prod"}
    # And a push to Bob's portfolio topic does not reach Alice
    assert broadcaster.publish_portfolio(bob_portfolio, bob, {"net_worth_usd": "1"}).delivered == 0


def test_gone_connections_are_deleted_and_disconnect_removes(db: Database, session: LiveSession) -> None:
    alice, _, _, _ = seed_users(db)
    store = ConnectionStore(db)
    for conn_id in ("c-1", "c-2"):
        connect(session, conn_id, token_for(alice))
        send(session, conn_id, {"action": "subscribe", "topic": "market:7"})
    # When c-1 answers Gone during a broadcast
    report = Broadcaster(store, RecordingPoster(gone={"c-1"})).publish_market(7, {"supply_apy": 0.02})
    # Then it is deleted, c-2 still receives; $disconnect removes c-2
    assert (report.delivered, report.gone) == (1, 1)
    assert store.user_of("c-1") is None
    assert handle_disconnect(ws_event("ws-disconnect.json", "c-2"), session)["statusCode"] == 200
    assert store.user_of("c-2") is None
    # And unsubscribing from an unknown connection is refused as unauthenticated
    assert send(session, "c-2", {"action": "unsubscribe", "topic": "markets"})["statusCode"] == 401
