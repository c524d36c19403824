"""The same requests through the Lambda entry point, with the HTTP API v2 events of events/api/."""

import base64
import copy
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from api.deps import ApiDeps
from api.handler import build_lambda_handler
from tidewatch.observability import logger

from .conftest import ManualClock
from .lambda_events import EVENTS_DIR, FakeLambdaContext, http_event, load_event, response_json
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def lambda_invoke(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> Invoke:
    handler = build_lambda_handler(make_deps(clock=clock))
    return lambda event: handler(event, FakeLambdaContext())  # type: ignore[arg-type]


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["body"] = json.dumps(body)
    event["headers"]["content-length"] = str(len(event["body"]))
    return event


def with_portfolio_id(event: dict[str, Any], pid: int) -> dict[str, Any]:
    event = json.loads(json.dumps(event).replace("/portfolios/REPLACE_WITH_PORTFOLIO_ID", f"/portfolios/{pid}"))
    event["pathParameters"] = {"portfolio_id": str(pid)}
    return event


def sign_in_through_lambda(invoke: Invoke, wallet: Wallet, now: float) -> dict[str, Any]:
    nonce = invoke(load_event("auth-nonce.json"))
    assert nonce["statusCode"] == 200
    text = wallet.message(response_json(nonce)["nonce"], now=now)
    verified = invoke(
        with_body(load_event("auth-verify-rejected.json"), {"message": text, "signature": wallet.sign(text)})
    )
    assert verified["statusCode"] == 200, verified["body"]
    assert verified["headers"]["x-request-id"] == "verify-0001"
    return response_json(verified)


def test_every_sample_event_is_a_valid_http_api_v2_event(lambda_invoke: Invoke) -> None:
    # Every event answers with a JSON body (problem or result), never a crash or a 500.
    # (Stripe webhooks need the signing secret these deps do not configure: tests/*/billing cover them;
    # ws-* are WebSocket API events for the websocket function.)
    for path in sorted(p for p in EVENTS_DIR.glob("*.json") if not p.name.startswith(("stripe-webhook", "ws-"))):
        response = lambda_invoke(json.loads(path.read_text()))
        assert response["statusCode"] < 500, path.name
        assert response["headers"]["x-request-id"], path.name


def test_sign_in_and_portfolio_flow_through_lambda(lambda_invoke: Invoke, clock: ManualClock) -> None:
    # Given a wallet signed in through the Lambda entry point
    session = sign_in_through_lambda(lambda_invoke, Wallet(seed=50), clock())
    token = session["access_token"]
    # When it creates, lists, reads, updates and reads the history of a portfolio with the events
    created = lambda_invoke(with_token(load_event("portfolios-create.json"), token))
    assert created["statusCode"] == 201, created["body"]
    pid = response_json(created)["id"]
    listed = lambda_invoke(with_token(load_event("portfolios-list.json"), token))
    assert [p["id"] for p in response_json(listed)["items"]] == [pid]
    viewed = lambda_invoke(with_token(with_portfolio_id(load_event("portfolios-get.json"), pid), token))
    assert viewed["statusCode"] == 200
    assert response_json(viewed)["portfolio"]["wallets"][0]["label"] == "vitalik.eth"
    updated = lambda_invoke(with_token(with_portfolio_id(load_event("portfolios-update.json"), pid), token))
    assert response_json(updated)["name"] == "Renamed"
    history = lambda_invoke(with_token(with_portfolio_id(load_event("portfolios-history.json"), pid), token))
    assert len(response_json(history)["items"]) == 1
    # And refresh and logout work through the same path
    refreshed = lambda_invoke(with_body(load_event("auth-refresh.json"), {"refresh_token": session["refresh_token"]}))
    assert refreshed["statusCode"] == 200
    new_refresh = response_json(refreshed)["refresh_token"]
    logout = lambda_invoke(with_body(with_token(load_event("auth-logout.json"), token), {"refresh_token": new_refresh}))
    assert logout["statusCode"] == 204
    deleted = lambda_invoke(with_token(with_portfolio_id(load_event("portfolios-delete.json"), pid), token))
    assert deleted["statusCode"] == 204


def test_cross_user_access_through_lambda_is_404(lambda_invoke: Invoke, clock: ManualClock) -> None:
    alice = sign_in_through_lambda(lambda_invoke, Wallet(seed=51), clock())["access_token"]
    bob = sign_in_through_lambda(lambda_invoke, Wallet(seed=52), clock())["access_token"]
    pid = response_json(lambda_invoke(with_token(load_event("portfolios-create.json"), alice)))["id"]
    response = lambda_invoke(with_token(with_portfolio_id(load_event("portfolios-get.json"), pid), bob))
    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == "application/problem+json"


def test_bad_requests_through_lambda_are_clean_problems(lambda_invoke: Invoke) -> None:
    malformed = lambda_invoke(http_event("POST", "/auth/verify", raw_body='{"message": ', request_id="bad-1"))
    assert malformed["statusCode"] == 400
    assert response_json(malformed)["type"].endswith("/malformed-json")
    assert malformed["headers"]["x-request-id"] == "bad-1"
    oversized = lambda_invoke(http_event("POST", "/auth/verify", body={"message": "a" * 10_000, "signature": "0x00"}))
    assert oversized["statusCode"] == 413
    assert response_json(oversized)["type"].endswith("/payload-too-large")
    unauthenticated = lambda_invoke(load_event("portfolios-list.json"))
    assert unauthenticated["statusCode"] == 401
    assert response_json(unauthenticated)["type"].endswith("/invalid-token")


def test_base64_encoded_bodies_are_decoded(lambda_invoke: Invoke, clock: ManualClock) -> None:
    # API Gateway base64-encodes bodies it considers binary
    wallet = Wallet(seed=53)
    nonce = response_json(lambda_invoke(load_event("auth-nonce.json")))["nonce"]
    text = wallet.message(nonce, now=clock())
    event = with_body(load_event("auth-verify-rejected.json"), {"message": text, "signature": wallet.sign(text)})
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    del event["headers"]["content-length"]
    assert lambda_invoke(event)["statusCode"] == 200


def test_structured_logs_carry_the_request_id(lambda_invoke: Invoke) -> None:
    # Given the structured logger writing into a buffer
    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        # When a request runs through the Lambda entry point
        lambda_invoke(load_event("health.json"))
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    # Then its access log line is JSON with API Gateway's request id (also the correlation id)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("message") == "request"]
    assert access, lines
    assert access[-1]["request_id"] == "health-0001"
    assert access[-1]["correlation_id"] == "health-0001"
    assert access[-1]["status"] == 200
    assert access[-1]["route"] == "/health"
