"""The rules API routes: CRUD, 422 naming the field, 402 plan limits, 404 across users, dry run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from api.routers.rules import create_router
from tests.fakes.rules import Claims, FakeMarkets
from tests.integration.rules.seeds import seed_users
from tidewatch.db import Database
from tidewatch.errors import DomainError, Unauthorized
from tidewatch.rules.egress import EgressPolicy
from tidewatch.rules.repository import PostgresRules
from tidewatch.rules.service import RulesService
from tidewatch.rules.tick import TickSources
from tidewatch.rules.webhooks import webhook_secret

pytestmark = pytest.mark.integration

KEY = b"route-test-signing-key-000"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def authenticate(authorization: str = Header(default="")) -> Claims:
    # Stand-in for the API's bearer dependency: "Bearer user-<id>".
    if not authorization.startswith("Bearer user-"):
        raise Unauthorized("missing token")
    return Claims(int(authorization.removeprefix("Bearer user-")))


def rules_service(request: Request) -> RulesService:
    service: RulesService = request.app.state.rules
    return service


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.rules = RulesService(
        PostgresRules(db),
        signing_key=KEY,
        sources=TickSources(FakeMarkets({1: 0.06, 2: 0.04})),
        # No DNS here: every name resolves to one public address (example.com's).
        egress=EgressPolicy(resolve=lambda host, port: ["93.184.215.14"]),
        clock=lambda: NOW,
    )
    app.include_router(create_router(authenticate=authenticate, service=rules_service))

    @app.exception_handler(DomainError)
    def _problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return JSONResponse(exc.to_problem(), status_code=exc.status)

    with TestClient(app) as test_client:
        yield test_client


def as_user(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer user-{user_id}"}


RULE: dict[str, Any] = {
    "name": "USDC spread",
    "trigger": {"type": "apy_spread", "market_id": 1, "other_market_id": 2, "op": "above", "threshold": 0.01},
    "actions": [{"type": "notify"}],
    "cadence_seconds": 300,
}


def test_crud_dry_run_and_history(db: Database, client: TestClient) -> None:
    alice, portfolio, bob, _ = seed_users(db)
    # When Alice creates a rule
    created = client.post("/rules", json=RULE, headers=as_user(alice))
    assert created.status_code == 201, created.text
    rule = created.json()
    assert created.headers["Location"] == f"/rules/{rule['id']}"
    assert rule["armed"] is True
    assert rule["webhook_secret"] is None
    # Then she can read, list and change it; Bob cannot see it (404, not 403)
    assert client.get(f"/rules/{rule['id']}", headers=as_user(alice)).json()["name"] == "USDC spread"
    assert [r["id"] for r in client.get("/rules", headers=as_user(alice)).json()["items"]] == [rule["id"]]
    assert client.get(f"/rules/{rule['id']}", headers=as_user(bob)).status_code == 404
    assert client.get("/rules", headers=as_user(bob)).json()["items"] == []
    patched = client.patch(f"/rules/{rule['id']}", json={"cooldown_seconds": 600}, headers=as_user(alice))
    assert patched.json()["cooldown_seconds"] == 600
    # And the dry run says it would fire (spread 2 points > 1) without recording anything
    dry = client.post(f"/rules/{rule['id']}/test", headers=as_user(alice)).json()
    assert dry["would_fire"] is True
    assert dry["trigger"]["value"] == pytest.approx(0.02)
    assert dry["actions"] == ["notify (warning): rule fired"]
    assert client.get(f"/rules/{rule['id']}/executions", headers=as_user(alice)).json()["items"] == []
    assert client.get("/notifications", headers=as_user(alice)).json()["items"] == []
    # And deleting works once
    assert client.delete(f"/rules/{rule['id']}", headers=as_user(alice)).status_code == 204
    assert client.delete(f"/rules/{rule['id']}", headers=as_user(alice)).status_code == 404
    assert client.get("/rules", headers=as_user(alice)).status_code == 200
    assert client.get("/rules").status_code == 401
    assert client.get("/rules/schema", headers=as_user(alice)).json()["title"] == "Tidewatch rule"
    _ = portfolio


def test_bad_rules_get_422_naming_the_field(db: Database, client: TestClient) -> None:
    alice, _, _, bob_portfolio = seed_users(db)
    bad_op = {**RULE, "trigger": {**RULE["trigger"], "op": "sideways"}}
    response = client.post("/rules", json=bad_op, headers=as_user(alice))
    assert response.status_code == 422
    assert ["body", "trigger", "apy_spread", "op"] in [e["loc"] for e in response.json()["detail"]]
    # Cadence is whole minutes
    response = client.post("/rules", json={**RULE, "cadence_seconds": 90}, headers=as_user(alice))
    assert ["body", "cadence_seconds"] in [e["loc"] for e in response.json()["detail"]]
    # A health-factor trigger needs a portfolio: the error names portfolio_id
    hf = {**RULE, "trigger": {"type": "health_factor_below", "threshold": 1.2}}
    response = client.post("/rules", json=hf, headers=as_user(alice))
    assert ["body", "portfolio_id"] in [e["loc"] for e in response.json()["detail"]]
    # Someone else's portfolio is refused naming portfolio_id
    response = client.post("/rules", json={**hf, "portfolio_id": bob_portfolio}, headers=as_user(alice))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "portfolio_id"
    # A PATCH producing an invalid rule names the field too
    rule = client.post("/rules", json=RULE, headers=as_user(alice)).json()
    response = client.patch(
        f"/rules/{rule['id']}",
        json={"trigger": {"type": "health_factor_below", "threshold": 2}},
        headers=as_user(alice),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "portfolio_id"


BIGINT_PAST = 2**63


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"trigger": {**RULE["trigger"], "market_id": BIGINT_PAST}}, ["body", "trigger", "apy_spread", "market_id"]),
        (
            {"trigger": {**RULE["trigger"], "other_market_id": BIGINT_PAST}},
            ["body", "trigger", "apy_spread", "other_market_id"],
        ),
        ({"portfolio_id": BIGINT_PAST}, ["body", "portfolio_id"]),
        (
            {
                "conditions": {
                    "items": [{"type": "market_apy", "market_id": BIGINT_PAST, "op": "above", "threshold": 0.1}]
                }
            },
            ["body", "conditions", "items", 0, "market_apy", "market_id"],
        ),
    ],
    ids=["market_id", "other_market_id", "portfolio_id", "condition market_id"],
)
def test_ids_past_bigint_are_422_at_the_boundary(
    db: Database, client: TestClient, change: dict[str, Any], loc: list[Any]
) -> None:
    # Given a rule whose id fields do not fit PostgreSQL's bigint
    alice, _, _, _ = seed_users(db)
    # When it is created
    response = client.post("/rules", json={**RULE, **change}, headers=as_user(alice))
    # Then it is refused naming the field, and nothing is stored
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]
    assert client.get("/rules", headers=as_user(alice)).json()["items"] == []


@pytest.mark.parametrize("cursor", ["²", "9223372036854775808", "-1", "0x10"])
def test_cursors_that_are_not_ids_are_422(db: Database, client: TestClient, cursor: str) -> None:
    alice, _, _, _ = seed_users(db)
    response = client.get("/rules", params={"cursor": cursor}, headers=as_user(alice))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


def test_webhooks_to_internal_targets_are_refused_at_creation_as_a_problem(db: Database, client: TestClient) -> None:
    # Given a Pro user
    alice, _, _, _ = seed_users(db)
    with db.connection() as conn:
        conn.execute("UPDATE users SET plan = 'pro' WHERE id = %s", (alice,))
    # When a rule posting to the metadata service (in its NAT64 form) is created
    hook = {**RULE, "actions": [{"type": "webhook", "url": "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/"}]}
    response = client.post("/rules", json=hook, headers=as_user(alice))
    # Then it is a 422 problem naming the action's url
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "actions.0.url",
            "message": "webhook target refused: 64:ff9b::a9fe:a9fe is the cloud metadata service "
            "(169.254.169.254, embedded in 64:ff9b::a9fe:a9fe)",
        }
    ]


def test_plan_limits_are_402(db: Database, client: TestClient) -> None:
    alice, _, _, _ = seed_users(db)
    # Free plan (fallback limits): cadence >= 300 s, no webhooks, 3 enabled rules
    fast = client.post("/rules", json={**RULE, "cadence_seconds": 60}, headers=as_user(alice))
    assert (fast.status_code, fast.json()["limit"]) == (402, "min_rule_cadence_seconds")
    hook = {**RULE, "actions": [{"type": "webhook", "url": "https://example.com/hook"}]}
    assert client.post("/rules", json=hook, headers=as_user(alice)).json()["limit"] == "webhook_actions"
    for _ in range(3):
        assert client.post("/rules", json=RULE, headers=as_user(alice)).status_code == 201
    over = client.post("/rules", json=RULE, headers=as_user(alice))
    assert (over.status_code, over.json()["limit"]) == (402, "max_rules")
    # A disabled rule does not count
    assert client.post("/rules", json={**RULE, "enabled": False}, headers=as_user(alice)).status_code == 201
    # Pro allows webhooks; the owner sees the secret that signs them
    with db.connection() as conn:
        conn.execute("UPDATE users SET plan = 'pro' WHERE id = %s", (alice,))
    created = client.post("/rules", json=hook, headers=as_user(alice)).json()
    assert created["webhook_secret"] == webhook_secret(KEY, created["id"])
