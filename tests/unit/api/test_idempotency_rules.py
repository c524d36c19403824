"""The Idempotency-Key rules over an in-memory record store, around a small create route: the same
key and body replay the first answer without running the route again; another body or route under
the key is refused; a retry while the first runs is told to wait; a 5xx frees the key; records are
per user and expire. Postgres tests cover the records and the real routes (tests/integration/api)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.idempotency import KEEP_HOURS, IdempotencyMiddleware
from api.repository import IdempotencyRepository
from tests.fakes.api import InMemoryIdempotencyKeys
from tidewatch.errors import DomainError

ALICE, BOB = 7, 8


@dataclass
class Claims:
    user_id: int


class BearerIsUserId:
    """Tokens whose text is the user id; anything else is refused."""

    def verify(self, token: str) -> Claims:
        if not token.isdigit():
            raise DomainError("bad token")
        return Claims(int(token))


@dataclass
class CreateRoute:
    """Answers each create with the next scripted status (the last repeats) and counts runs."""

    statuses: list[int] = field(default_factory=lambda: [201])
    runs: int = 0

    async def create(self, request: Request) -> Response:
        self.runs += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        body = await request.json()
        return JSONResponse(
            {"id": self.runs, "name": body.get("name")},
            status_code=status,
            headers={"Location": f"/things/{self.runs}"},
        )


@pytest.fixture
def keys() -> InMemoryIdempotencyKeys:
    return InMemoryIdempotencyKeys()


@pytest.fixture
def route() -> CreateRoute:
    return CreateRoute()


@pytest.fixture
def client(keys: InMemoryIdempotencyKeys, route: CreateRoute) -> TestClient:
    app = Starlette(
        routes=[Route("/things", route.create, methods=["POST"]), Route("/others", route.create, methods=["POST"])]
    )
    app.state.services = SimpleNamespace(tokens=BearerIsUserId())
    store: IdempotencyRepository = keys
    app.add_middleware(IdempotencyMiddleware, paths=["/things", "/others"], keys=store)
    return TestClient(app)


def headers(user_id: int, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_id}", "Idempotency-Key": key}


def test_the_same_key_and_body_replay_the_first_answer(client: TestClient, route: CreateRoute) -> None:
    # Given a create made under a key
    first = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    assert first.status_code == 201
    # When it is retried with the same key and body
    again = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    # Then the first answer comes back, marked replayed, and the route ran once
    assert (again.status_code, again.json(), again.headers["location"]) == (201, first.json(), "/things/1")
    assert again.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    assert route.runs == 1


def test_the_key_with_another_body_or_route_is_refused(client: TestClient, route: CreateRoute) -> None:
    # Given a create made under a key
    assert client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1")).status_code == 201
    # When the key comes with another body, or on another create route
    other_body = client.post("/things", json={"name": "other"}, headers=headers(ALICE, "k-1"))
    other_route = client.post("/others", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    # Then both are refused as a reused key, and the route did not run again
    for refused in (other_body, other_route):
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/idempotency-key-reused")
    assert route.runs == 1


def test_a_retry_while_the_first_runs_is_told_to_wait(
    client: TestClient, keys: InMemoryIdempotencyKeys, route: CreateRoute
) -> None:
    # Given a first request under the key still running: claimed for this route and body, no answer yet
    body = b'{"name":"main"}'
    fingerprint = hashlib.sha256(b"/things\0" + body).hexdigest()
    with keys.session() as records:
        assert records.claim(user_id=ALICE, key="k-1", route="/things", fingerprint=fingerprint, keep_hours=24)
    # When the client retries
    busy = client.post("/things", content=body, headers=headers(ALICE, "k-1") | {"Content-Type": "application/json"})
    # Then it is a 409 problem with Retry-After, and the route did not run
    assert busy.status_code == 409
    assert busy.json()["type"].endswith("/idempotency-key-in-progress")
    assert busy.headers["retry-after"] == "1"
    assert route.runs == 0


def test_a_server_error_frees_the_key_so_a_retry_runs_again(client: TestClient, route: CreateRoute) -> None:
    # Given a create that failed with a 503 under a key
    route.statuses = [503, 201]
    assert client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1")).status_code == 503
    # When it is retried with the same key
    again = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    # Then the route runs again and its answer is the one kept
    assert again.status_code == 201
    assert "idempotency-replayed" not in again.headers
    assert route.runs == 2
    assert client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1")).json() == again.json()


def test_a_refusal_below_500_is_kept_and_replayed(client: TestClient, route: CreateRoute) -> None:
    # Given a create refused with a 422 under a key
    route.statuses = [422, 201]
    first = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    # When retried with the same key, Then the refusal is replayed and the route ran once
    again = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    assert (again.status_code, again.json()) == (422, first.json())
    assert route.runs == 1


def test_keys_are_per_user_and_expire(client: TestClient, keys: InMemoryIdempotencyKeys, route: CreateRoute) -> None:
    # Given alice created under a key
    mine = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "shared"))
    # When bob uses the same key and body
    his = client.post("/things", json={"name": "main"}, headers=headers(BOB, "shared"))
    # Then bob's create runs on its own, never answered with alice's
    assert "idempotency-replayed" not in his.headers
    assert his.json()["id"] != mine.json()["id"]
    # And once the kept hours pass, alice's key runs the route again
    keys.now += timedelta(hours=KEEP_HOURS, seconds=1)
    later = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "shared"))
    assert "idempotency-replayed" not in later.headers
    assert route.runs == 3


def test_without_a_key_or_a_valid_token_the_route_runs_as_usual(
    client: TestClient, keys: InMemoryIdempotencyKeys, route: CreateRoute
) -> None:
    # When creates come without a key, or with a key and no valid token
    client.post("/things", json={"name": "main"}, headers={"Authorization": f"Bearer {ALICE}"})
    client.post("/things", json={"name": "main"}, headers={"Authorization": "Bearer nope", "Idempotency-Key": "k"})
    # Then each runs the route and nothing is recorded
    assert route.runs == 2
    assert keys.records == {}


def test_a_malformed_key_is_a_validation_problem(client: TestClient, route: CreateRoute) -> None:
    response = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "has space"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert route.runs == 0


def test_an_unreachable_store_is_a_clean_problem(
    client: TestClient, keys: InMemoryIdempotencyKeys, route: CreateRoute
) -> None:
    # Given the record store does not answer
    keys.down = True
    # When a create comes with a key
    response = client.post("/things", json={"name": "main"}, headers=headers(ALICE, "k-1"))
    # Then it is a 503 problem with Retry-After, and the route did not run
    assert response.status_code == 503
    assert response.json()["type"].endswith("/database-unavailable")
    assert response.headers["retry-after"] == "5"
    assert route.runs == 0
