"""Input PostgreSQL cannot store is a 422 problem naming the field; a deleted user's token is a 401."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from tidewatch.db import Database

from .conftest import ManualClock
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration

VITALIK = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"
RULE: dict[str, Any] = {
    "name": "r",
    "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
    "actions": [{"type": "notify"}],
    "cadence_seconds": 300,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def app_client(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> TestClient:
    return TestClient(create_app(make_deps(clock=clock, api=_api_settings())), raise_server_exceptions=False)


def _api_settings() -> Any:
    from api.settings import ApiSettings

    return ApiSettings(cors_origins=["https://app.tidewatch.test"], max_body_bytes=65_536)


def signed_in(client: TestClient, seed: int, now: float) -> dict[str, str]:
    return {"Authorization": "Bearer " + Wallet(seed=seed).sign_in(client, now=now)["access_token"]}


def _assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


@pytest.mark.parametrize("bad", ["a\u0000b", "\ud800"], ids=["NUL", "lone surrogate"])
@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/portfolios", lambda s: {"name": s}, "name"),
        ("/portfolios", lambda s: {"name": "x", "wallets": [{"address": VITALIK, "label": s}]}, "wallets.0.label"),
        ("/rules", lambda s: {**RULE, "name": s}, "name"),
        ("/rules", lambda s: {**RULE, "actions": [{"type": "notify", "title": s}]}, "actions.0.title"),
    ],
    ids=["portfolio name", "wallet label", "rule name", "notification title"],
)
def test_unstorable_characters_in_json_strings_are_422(
    app_client: TestClient, clock: ManualClock, db: Database, path: str, payload: Any, field: str, bad: str
) -> None:
    # Given a signed-in user; When a stored string holds a character PostgreSQL refuses
    auth = signed_in(app_client, 40, clock())
    # (json.dumps escapes both as \u sequences, as any JSON client would send them)
    body = json.dumps(payload(bad)).encode()
    response = app_client.post(path, content=body, headers={**auth, "Content-Type": "application/json"})
    # Then the answer is a 422 problem naming the field, and nothing was stored
    _assert_problem(response, 422, field)
    with db.connection() as conn:
        assert conn.execute(
            "SELECT (SELECT count(*) FROM portfolios) + (SELECT count(*) FROM rules) AS n"
        ).fetchone() == {"n": 0}


def test_the_same_characters_on_patch_are_422(app_client: TestClient, clock: ManualClock) -> None:
    auth = signed_in(app_client, 41, clock())
    created = app_client.post("/portfolios", json={"name": "Main"}, headers=auth).json()
    response = app_client.patch(f"/portfolios/{created['id']}", json={"name": "bad\u0000"}, headers=auth)
    _assert_problem(response, 422, "name")
    assert app_client.get(f"/portfolios/{created['id']}", headers=auth).json()["portfolio"]["name"] == "Main"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/markets?asset=US%00DC", "asset"),
        ("/portfolios?cursor=%00", "cursor"),
        ("/rules?cursor=12%00", "cursor"),
        ("/notifications?cursor=%ED%A0%80", "cursor"),  # UTF-8 bytes of a lone surrogate
        ("/markets?asset=%FF", "asset"),  # not UTF-8 at all
    ],
)
def test_unstorable_characters_in_query_parameters_are_422(
    app_client: TestClient, clock: ManualClock, url: str, field: str
) -> None:
    auth = signed_in(app_client, 42, clock())
    body = _assert_problem(app_client.get(url, headers=auth), 422, field)
    assert body["errors"][0]["in"] == "query"


def test_an_escaped_backslash_u0000_is_ordinary_text(app_client: TestClient, clock: ManualClock) -> None:
    # The six characters \u0000 (an escaped backslash, then "u0000") are storable text
    auth = signed_in(app_client, 43, clock())
    response = app_client.post(
        "/portfolios", content=b'{"name": "a\\\\u0000"}', headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "a\\u0000"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/billing/checkout"),
        ("get", "/portfolios"),
        ("get", "/rules"),
        ("get", "/billing"),
        ("get", "/notifications"),
    ],
)
def test_a_deleted_users_still_valid_token_is_a_401_problem(
    app_client: TestClient, clock: ManualClock, db: Database, method: str, path: str
) -> None:
    # Given a user who signed in, then was deleted while the access token is still valid
    wallet = Wallet(seed=44)
    auth = {"Authorization": "Bearer " + wallet.sign_in(app_client, now=clock())["access_token"]}
    with db.connection() as conn:
        conn.execute("DELETE FROM users WHERE address = %s", (wallet.address,))
    # When the token is used on any route
    response = getattr(app_client, method)(path, headers=auth)
    # Then it is a 401 problem saying why, with the Bearer challenge
    body = _assert_problem(response, 401)
    assert "no longer exists" in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "url",
    [
        "/markets?chain_id=2147483648",
        "/markets?chain_id=9223372036854775808",
        "/markets/9223372036854775808",
        f"/positions/{VITALIK}?chain_id=2147483648",
        "/portfolios/9223372036854775808",
        "/rules/9223372036854775808",
    ],
)
def test_integers_past_their_column_types_are_422(app_client: TestClient, clock: ManualClock, url: str) -> None:
    auth = signed_in(app_client, 45, clock())
    _assert_problem(app_client.get(url, headers=auth), 422)


@pytest.mark.parametrize(
    ("path", "payload"), [("/portfolios", {"name": "p"}), ("/rules", RULE)], ids=["portfolio", "rule"]
)
def test_a_write_racing_the_users_deletion_is_a_401(
    app_client: TestClient, clock: ManualClock, db: Database, path: str, payload: dict[str, Any]
) -> None:
    # Given a user whose token was just accepted (the user lookup is cached for a minute)
    wallet = Wallet(seed=46)
    auth = {"Authorization": "Bearer " + wallet.sign_in(app_client, now=clock())["access_token"]}
    assert app_client.get("/portfolios", headers=auth).status_code == 200
    # When the user is deleted and a write follows within that minute
    with db.connection() as conn:
        conn.execute("DELETE FROM users WHERE address = %s", (wallet.address,))
    response = app_client.post(path, json=payload, headers=auth)
    # Then it is a 401 problem, not a server error
    assert "no longer exists" in _assert_problem(response, 401)["detail"]
