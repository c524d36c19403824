"""Fixtures for billing: the api app with the billing router, a signed-webhook sender, users, Stripe stub."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import responses
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from api.deps.billing import BillingDeps, billing_deps_from
from api.routers import billing as billing_routes
from tests.fakes.stripe import API_BASE, StripeStub
from tidewatch.billing.settings import BillingSettings
from tidewatch.db import Database
from tidewatch.identity.settings import AuthSettings
from tidewatch_local.stripe_events import LOCAL_WEBHOOK_SECRET, event, sign

T0 = 1_795_960_800


class ManualClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def billing_settings(**overrides: Any) -> BillingSettings:
    values: dict[str, Any] = {
        "stripe_api_key": "sk_test_tidewatch",
        "stripe_webhook_secret": LOCAL_WEBHOOK_SECRET,
        "stripe_api_base": API_BASE,
        "stripe_price_pro": "price_tidewatch_pro_monthly",
        "stripe_max_network_retries": 0,
        "billing_grace_days": 7,
    }
    values.update(overrides)
    return BillingSettings(**values)


@dataclass(frozen=True)
class SignedInUser:
    id: int
    address: str


def api_deps(db: Database, redis_client: redis.Redis, clock: ManualClock) -> ApiDeps:
    auth = AuthSettings(jwt_keys={"k1": "billing-test-key-0123456789abcdef0123"}, jwt_active_kid="k1")
    return ApiDeps(database=db, redis=redis_client, auth=auth, clock=clock)


def build_app(deps: ApiDeps, billing: BillingDeps) -> FastAPI:
    app = create_app(dataclasses.replace(deps, billing=billing))
    if not any(getattr(r, "path", None) == "/webhooks/stripe" for r in app.routes):
        app.include_router(billing_routes.router)  # until the app factory lists it
    return app


def access_token(app: FastAPI, user: SignedInUser, plan: str = "free") -> str:
    """A real access token from the api's own token service (the route reads the plan from the db)."""
    token: str = app.state.services.require_tokens().issue(user_id=user.id, address=user.address, plan=plan)
    return token


@dataclass
class Harness:
    db: Database
    clock: ManualClock
    client: TestClient
    user: SignedInUser
    stripe: StripeStub

    def happen(self, event_type: str, obj: dict[str, Any]) -> None:
        """Stripe's state changes as the event says (its subscription, or the customer deleted)."""
        if obj.get("object") == "subscription":
            self.stripe.put(obj)
        elif event_type == "customer.deleted":
            self.stripe.delete_customer(obj["id"])

    def post_event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        created: int,
        event_id: str | None = None,
        secret: str = LOCAL_WEBHOOK_SECRET,
        sync: bool = True,
    ) -> Any:
        """Deliver a Stripe event signed now, as Stripe would; `sync`: Stripe's state changed first."""
        if sync:
            self.happen(event_type, obj)
        body = json.dumps(event(event_type, obj, created=created, event_id=event_id))
        return self.deliver(body, sign(body, secret, timestamp=int(self.clock())))

    def deliver(self, body: str, signature: str | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return self.client.post("/webhooks/stripe", content=body.encode(), headers=headers)

    def one(self, sql: str, *params: Any) -> Any:
        with self.db.connection() as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else next(iter(row.values()))

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return list(conn.execute(sql, params).fetchall())


def create_user(db: Database, address: str = "0x" + "1" * 40) -> int:
    with db.connection() as conn:
        row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", (address,)).fetchone()
    assert row is not None
    return int(row["id"])


@pytest.fixture
def stripe_stub() -> Iterator[StripeStub]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield StripeStub(mock)


@pytest.fixture
def make_harness(db: Database, redis_client: redis.Redis, stripe_stub: StripeStub) -> Iterator[Callable[..., Harness]]:
    clients: list[TestClient] = []

    def build(settings: BillingSettings | None = None, *, signed_in: bool = True) -> Harness:
        clock = ManualClock()
        address = "0x" + f"{len(clients) + 1:040x}"
        user = SignedInUser(id=create_user(db, address), address=address)
        app = build_app(api_deps(db, redis_client, clock), billing_deps_from(settings or billing_settings()))
        client = TestClient(app, raise_server_exceptions=False)
        if signed_in:
            client.headers["Authorization"] = f"Bearer {access_token(app, user)}"
        clients.append(client)
        return Harness(db=db, clock=clock, client=client, user=user, stripe=stripe_stub)

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
