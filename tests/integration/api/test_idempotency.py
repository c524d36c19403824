"""`Idempotency-Key` on create routes: a retry replays the first answer and creates nothing new."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tidewatch.db import Database

pytestmark = pytest.mark.integration


def _signed_in(client: TestClient, db: Database, address: str) -> dict[str, str]:
    with db.transaction() as conn:
        row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", (address,)).fetchone()
    assert row is not None
    token = client.app.state.services.require_tokens().issue(user_id=row["id"], address=address, plan="pro")  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
BODY = {"name": "main", "wallets": [], "chains": [1]}


def _count(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM portfolios").fetchone()
    assert row is not None
    return int(row["n"])


def test_same_key_and_body_replays_the_first_response_without_a_second_row(client: TestClient, db: Database) -> None:
    # Given a signed-in user who created a portfolio with an Idempotency-Key
    auth = _signed_in(client, db, ALICE) | {"Idempotency-Key": "create-main-1"}
    first = client.post("/portfolios", json=BODY, headers=auth)
    assert first.status_code == 201
    # When the client retries the same request with the same key
    again = client.post("/portfolios", json=BODY, headers=auth)
    # Then the same response comes back, marked as replayed, and only one portfolio exists
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotency-replayed"] == "true"
    assert _count(db) == 1


def test_same_key_with_another_body_is_a_problem(client: TestClient, db: Database) -> None:
    # Given a create made with a key
    auth = _signed_in(client, db, ALICE) | {"Idempotency-Key": "k-1"}
    assert client.post("/portfolios", json=BODY, headers=auth).status_code == 201
    # When the key is reused for a different request
    reused = client.post("/portfolios", json=BODY | {"name": "other"}, headers=auth)
    # Then it is refused with a problem and nothing is created
    assert reused.status_code == 422
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert _count(db) == 1


def test_keys_are_per_user(client: TestClient, db: Database) -> None:
    # Given alice used a key
    alice = _signed_in(client, db, ALICE) | {"Idempotency-Key": "shared"}
    bob = _signed_in(client, db, BOB) | {"Idempotency-Key": "shared"}
    mine = client.post("/portfolios", json=BODY, headers=alice)
    # When bob sends the same key and body
    his = client.post("/portfolios", json=BODY, headers=bob)
    # Then bob gets his own new portfolio, never alice's response
    assert his.status_code == 201
    assert "idempotency-replayed" not in his.headers
    assert his.json()["id"] != mine.json()["id"]


def test_a_malformed_key_is_a_validation_problem(client: TestClient, db: Database) -> None:
    auth = _signed_in(client, db, ALICE) | {"Idempotency-Key": "has space"}
    response = client.post("/portfolios", json=BODY, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert _count(db) == 0


def test_a_refused_create_is_replayed_too_and_a_new_key_runs_again(client: TestClient, db: Database) -> None:
    # Given a create refused by validation (unsupported chain) under a key
    auth = _signed_in(client, db, ALICE)
    bad = BODY | {"chains": [999]}
    first = client.post("/portfolios", json=bad, headers=auth | {"Idempotency-Key": "bad-1"})
    assert first.status_code == 422
    # When retried with the same key, Then the same refusal is replayed
    assert client.post("/portfolios", json=bad, headers=auth | {"Idempotency-Key": "bad-1"}).json() == first.json()
    # And without a key the route behaves as always
    assert client.post("/portfolios", json=BODY, headers=auth).status_code == 201
