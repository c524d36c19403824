"""The transactions routes on the devnet: prepare → sign → broadcast → list, through the wallet
client over both invokers (the wallet handler in-process, and a Lambda invoke with the wallet's
envelope in between)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from api.routers import transactions
from api.settings import ApiSettings
from tidewatch.db import Database
from tidewatch.entrypoint import run_typed
from tidewatch.identity.settings import AuthSettings
from tidewatch.invoke import InProcessInvoker, LambdaInvoker
from tidewatch.portfolios.positions import NoPositionSource
from tidewatch.transactions.client import WalletClient, WalletFunctionClient
from tidewatch.transactions.models import UnsignedTransaction
from tidewatch.transactions.service import WalletService
from wallet import handler, logic
from wallet.deps import WalletDeps

from .conftest import Devnet, add_user, sign

pytestmark = pytest.mark.integration


class HandlerAsLambda:
    """A boto3 Lambda client whose `invoke` runs the wallet's typed entry glue in-process."""

    def __init__(self, service: WalletService) -> None:
        self.service = service
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        self.invocations.append({"function": FunctionName, "type": InvocationType, "action": event.get("action")})
        result = run_typed(event, logic.WalletEvent, lambda e: logic.handle(e, self.service))
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result, default=str).encode())}


def _app(db: Database, redis_client: redis.Redis, wallet_client: WalletClient) -> FastAPI:
    deps = ApiDeps(
        database=db,
        redis=redis_client,
        api=ApiSettings(cors_origins=["https://app.tidewatch.test"]),
        auth=AuthSettings(
            site_domain="app.tidewatch.test",
            site_uri="https://app.tidewatch.test",
            supported_chain_ids=[1, 8453],
            jwt_keys={"k1": "test-secret-key-one-0123456789abcdef"},
            jwt_active_kid="k1",
        ),
        positions=NoPositionSource(),
        wallet=wallet_client,
    )
    app = create_app(deps)
    if transactions.router not in [getattr(r, "router", None) for r in app.routes]:
        app.include_router(transactions.router)  # until the lead adds it to api.app.routers()
    return app


def _bearer(app: FastAPI, user_id: int, address: str) -> dict[str, str]:
    token = app.state.services.require_tokens().issue(user_id=user_id, address=address, plan="pro")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["in-process", "lambda"])
def api(
    request: pytest.FixtureRequest, db: Database, redis_client: redis.Redis, wallet: WalletService
) -> Iterator[tuple[TestClient, FastAPI]]:
    invoker = (
        InProcessInvoker({"wallet": lambda event, context: handler.handle(event, context, WalletDeps(db, wallet))})
        if request.param == "in-process"
        else LambdaInvoker({"wallet": "tidewatch-wallet"}, client=HandlerAsLambda(wallet))
    )
    client = WalletFunctionClient(invoker)
    app = _app(db, redis_client, client)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, app


def test_prepare_broadcast_and_list(api: tuple[TestClient, FastAPI], db: Database, devnet: Devnet) -> None:
    http, app = api
    alice = devnet.user("alice-healthy")
    user_id, portfolio_id = add_user(db, alice["address"])
    auth = _bearer(app, user_id, alice["address"])

    # When alice prepares a supply of 100 DAI to Aave over HTTP
    intent = {
        "chain_id": 1,
        "protocol": "aave-v3",
        "action": "supply",
        "from": alice["address"],
        "asset": "DAI",
        "amount": "100",
    }
    response = http.post("/transactions/prepare", json={"intent": intent, "portfolio_id": portfolio_id}, headers=auth)

    # Then 201 with eth_sendTransaction-shaped transactions (approve first), and a Location
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/transactions/{body['id']}"
    first = body["transactions"][0]
    assert {"from", "to", "data", "value", "chainId", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "nonce"} <= set(
        first
    )
    assert [t["decoded"]["function"].split("(")[0] for t in body["transactions"]] == ["approve", "supply"]

    # When each is signed with her key and broadcast
    for tx in body["transactions"]:
        raw = sign(UnsignedTransaction.model_validate(tx), alice["private_key"])
        sent = http.post(f"/transactions/{body['id']}/broadcast", json={"raw_transaction": raw}, headers=auth)
        assert sent.status_code == 200, sent.text

    # Then her list shows it submitted, and the single view has both hashes
    listed = http.get("/transactions", headers=auth).json()
    assert [i["id"] for i in listed["items"]] == [body["id"]]
    assert listed["items"][0]["status"] == "submitted"
    one = http.get(f"/transactions/{body['id']}", headers=auth).json()
    assert all(t["hash"] and t["status"] == "submitted" for t in one["transactions"])


def test_refusals_are_problems(api: tuple[TestClient, FastAPI], db: Database, devnet: Devnet) -> None:
    http, app = api
    bob = devnet.user("bob-near-liquidation")
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, bob["address"])
    auth = _bearer(app, user_id, bob["address"])
    base = {"chain_id": 1, "protocol": "aave-v3", "from": bob["address"]}

    # A borrow that would revert: 422 with the decoded reason
    response = http.post(
        "/transactions/prepare",
        json={"intent": {**base, "action": "borrow", "asset": "USDC", "amount": "5000"}},
        headers=auth,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/transaction-would-revert")
    assert problem["reason"] == "COLLATERAL_CANNOT_COVER_NEW_BORROW (Aave error 36)"

    # Someone else's address as `from`: 403
    response = http.post(
        "/transactions/prepare",
        json={"intent": {**base, "from": alice["address"], "action": "supply", "asset": "USDC", "amount": "1"}},
        headers=auth,
    )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/from-not-in-portfolio")

    # A malformed intent ("max" borrow): 422 naming the field; an unknown id: 404; no token: 401
    response = http.post(
        "/transactions/prepare",
        json={"intent": {**base, "action": "borrow", "asset": "USDC", "amount": "max"}},
        headers=auth,
    )
    assert response.status_code == 422
    assert http.get("/transactions/00000000-0000-0000-0000-000000000000", headers=auth).status_code == 404
    assert http.get("/transactions").status_code == 401
