"""Fixtures for the API: deps on the real test Postgres/Redis, a test client, a Lambda handler."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from api.handler import build_lambda_handler
from api.settings import ApiSettings
from tidewatch.db import Database
from tidewatch.identity.settings import AuthSettings
from tidewatch.observability import metrics
from tidewatch.portfolios.positions import NoPositionSource

from .lambda_events import FakeLambdaContext

# tests/conftest.py sets POWERTOOLS_METRICS_NAMESPACE after tidewatch.observability was imported,
# so the shared Metrics instance has no namespace; the Lambda-path tests flush metrics and need one.
if metrics.namespace is None:
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "TidewatchTest")

JWT_KEYS = {"k1": "test-secret-key-one-0123456789abcdef", "k2": "test-secret-key-two-0123456789abcdef"}


class ManualClock:
    """A clock tests move by hand (token expiry, rate-limit refill)."""

    def __init__(self, start: float = 1_795_960_800.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth_settings(**overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "site_domain": "app.tidewatch.test",
        "site_uri": "https://app.tidewatch.test",
        "supported_chain_ids": [1, 8453],
        "jwt_keys": JWT_KEYS,
        "jwt_active_kid": "k2",
    }
    values.update(overrides)
    return AuthSettings(**values)


@pytest.fixture
def make_deps(db: Database, redis_client: redis.Redis) -> Callable[..., ApiDeps]:
    def build(**overrides: Any) -> ApiDeps:
        values: dict[str, Any] = {
            "database": db,
            "redis": redis_client,
            "api": ApiSettings(cors_origins=["https://app.tidewatch.test"], max_body_bytes=4096),
            "auth": auth_settings(),
            "positions": NoPositionSource(),
        }
        values.update(overrides)
        return ApiDeps(**values)

    return build


@pytest.fixture
def deps(make_deps: Callable[..., ApiDeps]) -> ApiDeps:
    return make_deps()


@pytest.fixture
def client(deps: ApiDeps) -> Iterator[TestClient]:
    with TestClient(create_app(deps), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def invoke(deps: ApiDeps) -> Callable[[dict[str, Any]], dict[str, Any]]:
    handler = build_lambda_handler(deps)

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return handler(event, FakeLambdaContext())  # type: ignore[arg-type]

    return call
