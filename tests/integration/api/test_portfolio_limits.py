"""Plan limits on portfolios, from the one plan table: enforced on create AND on patch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from tidewatch.billing.plans import entitlements_for
from tidewatch.db import Database

from .conftest import ManualClock
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration

FREE_ADDRESSES = entitlements_for("free").max_addresses_per_portfolio
PRO_ADDRESSES = entitlements_for("pro").max_addresses_per_portfolio


def addresses(n: int) -> list[dict[str, str]]:
    return [{"address": "0x" + f"{i + 1:040x}"} for i in range(n)]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def client(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> TestClient:
    settings = ApiSettings(cors_origins=["https://app.tidewatch.test"], max_body_bytes=65_536)
    return TestClient(create_app(make_deps(clock=clock, api=settings)), raise_server_exceptions=False)


def sign_in(client: TestClient, clock: ManualClock, seed: int, db: Database, plan: str = "free") -> dict[str, str]:
    wallet = Wallet(seed=seed)
    token = wallet.sign_in(client, now=clock())["access_token"]
    if plan != "free":
        with db.connection() as conn:
            conn.execute("UPDATE users SET plan = %s WHERE address = %s", (plan, wallet.address))
    return {"Authorization": f"Bearer {token}"}


def _plan_limit(response: Any, allowed: int) -> None:
    assert response.status_code == 402, response.text
    body = response.json()
    assert (body["limit"], body["allowed"]) == ("max_addresses_per_portfolio", allowed)


def test_a_free_user_cannot_create_a_portfolio_past_the_address_limit(
    client: TestClient, clock: ManualClock, db: Database
) -> None:
    auth = sign_in(client, clock, 50, db)
    # When a free user creates a portfolio with 12 addresses
    response = client.post("/portfolios", json={"name": "big", "wallets": addresses(12)}, headers=auth)
    # Then it is a 402 naming the limit and what is allowed, and nothing is stored
    _plan_limit(response, FREE_ADDRESSES)
    assert client.get("/portfolios", headers=auth).json()["items"] == []
    # And exactly the limit is fine
    ok = client.post("/portfolios", json={"name": "ok", "wallets": addresses(FREE_ADDRESSES)}, headers=auth)
    assert ok.status_code == 201, ok.text


def test_a_free_user_cannot_patch_a_portfolio_past_the_address_limit(
    client: TestClient, clock: ManualClock, db: Database
) -> None:
    auth = sign_in(client, clock, 51, db)
    created = client.post("/portfolios", json={"name": "p", "wallets": addresses(2)}, headers=auth).json()
    # When the wallets are replaced by 50 addresses
    response = client.patch(f"/portfolios/{created['id']}", json={"wallets": addresses(50)}, headers=auth)
    # Then it is a 402, and the portfolio is unchanged
    _plan_limit(response, FREE_ADDRESSES)
    stored = client.get(f"/portfolios/{created['id']}", headers=auth).json()["portfolio"]
    assert len(stored["wallets"]) == 2
    # And a patch that leaves the wallets alone, or stays within the limit, is fine
    assert client.patch(f"/portfolios/{created['id']}", json={"name": "renamed"}, headers=auth).status_code == 200
    fine = client.patch(f"/portfolios/{created['id']}", json={"wallets": addresses(FREE_ADDRESSES)}, headers=auth)
    assert fine.status_code == 200


def test_someone_elses_portfolio_is_404_before_any_plan_limit(
    client: TestClient, clock: ManualClock, db: Database
) -> None:
    alice = sign_in(client, clock, 52, db)
    bob = sign_in(client, clock, 53, db)
    created = client.post("/portfolios", json={"name": "a"}, headers=alice).json()
    response = client.patch(f"/portfolios/{created['id']}", json={"wallets": addresses(12)}, headers=bob)
    assert response.status_code == 404


def test_pro_gets_its_own_limit_and_the_schema_bound_is_the_largest_plans(
    client: TestClient, clock: ManualClock, db: Database
) -> None:
    auth = sign_in(client, clock, 54, db, plan="pro")
    assert (
        client.post("/portfolios", json={"name": "p", "wallets": addresses(PRO_ADDRESSES)}, headers=auth).status_code
        == 201
    )
    too_many = client.post("/portfolios", json={"name": "q", "wallets": addresses(PRO_ADDRESSES + 1)}, headers=auth)
    assert too_many.status_code == 422


def test_the_api_shows_the_limit_it_enforces(client: TestClient, clock: ManualClock, db: Database) -> None:
    auth = sign_in(client, clock, 55, db)
    shown = client.get("/billing", headers=auth).json()["entitlements"]
    assert shown["max_addresses_per_portfolio"] == FREE_ADDRESSES
    assert shown["max_portfolios"] == entitlements_for("free").max_portfolios


@pytest.mark.parametrize("chain", [2**31, 2**63, 0, -1])
def test_chain_ids_outside_the_integer_column_are_422(
    client: TestClient, clock: ManualClock, db: Database, chain: int
) -> None:
    auth = sign_in(client, clock, 56, db)
    response = client.post("/portfolios", json={"name": "p", "chains": [chain]}, headers=auth)
    assert response.status_code == 422, response.text
