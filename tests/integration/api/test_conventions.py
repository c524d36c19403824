"""API conventions: problem+json everywhere, request ids, CORS, rate limits, body limits."""

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings, BucketLimit
from tidewatch.cache import connect_redis
from tidewatch.portfolios.positions import PositionReading

from .conftest import ManualClock
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


def bearer(client: TestClient, seed: int, now: float) -> dict[str, str]:
    return {"Authorization": "Bearer " + Wallet(seed=seed).sign_in(client, now=now)["access_token"]}


def test_malformed_json_is_a_clean_400(client: TestClient) -> None:
    response = client.post("/auth/verify", content=b'{"message": "abc", ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/malformed-json")
    assert "Traceback" not in response.text


def test_oversized_body_is_a_clean_413(client: TestClient) -> None:
    # Given a body over the configured 4096-byte limit
    big = '{"message": "' + "a" * 10_000 + '", "signature": "0x00"}'
    response = client.post("/auth/verify", content=big.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")


def test_oversized_streamed_body_without_length_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b"x" * 1000

    response = client.post("/auth/verify", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_validation_error_names_the_field(client: TestClient) -> None:
    response = client.post("/auth/verify", json={"message": "x"})
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["signature"]
    assert "signature" in body["detail"]


def test_unknown_route_and_wrong_method_are_problems(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.delete("/health")
    assert wrong.status_code == 405
    assert wrong.json()["type"].endswith("/method-not-allowed")


class ExplodingPositions:
    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        raise RuntimeError("connect to postgres://admin:hunter2@10.0.0.5 failed")


def test_unexpected_errors_are_500_problems_without_internals(
    make_deps: Callable[..., ApiDeps], clock: ManualClock
) -> None:
    client = TestClient(create_app(make_deps(positions=ExplodingPositions(), clock=clock)))
    auth = bearer(client, 40, clock())
    pid = client.post("/portfolios", json={"name": "x"}, headers=auth).json()["id"]
    response = client.get(f"/portfolios/{pid}", headers=auth)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/internal")
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"]


def test_request_id_is_echoed_or_created(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-Id": "bad id with spaces\n"}).headers["x-request-id"]
    assert generated != "bad id with spaces\n"
    assert len(generated) == 32


def test_cors_allows_only_configured_origins(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    ok = client.options("/portfolios", headers={"Origin": "https://app.tidewatch.test"} | preflight)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.tidewatch.test"
    evil = client.options("/portfolios", headers={"Origin": "https://evil.example"} | preflight)
    assert "access-control-allow-origin" not in evil.headers


def test_user_rate_limit_triggers_and_recovers(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> None:
    # Given a free plan of 3 requests burst, refilled at 1 per second
    settings = ApiSettings(
        rate_limit_plans={"free": BucketLimit(burst=3, per_second=1.0)},
        rate_limit_ip=BucketLimit(burst=1000, per_second=100.0),
    )
    client = TestClient(create_app(make_deps(api=settings, clock=clock)))
    auth = bearer(client, 41, clock())
    # When a user makes 3 requests at once, they pass with RateLimit headers counting down
    remaining = [client.get("/portfolios", headers=auth).headers["ratelimit-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    # Then the 4th is refused with 429, Retry-After and a problem
    refused = client.get("/portfolios", headers=auth)
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("/rate-limited")
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["ratelimit-limit"] == "3"
    # And after a second one token is back
    clock.advance(1.0)
    assert client.get("/portfolios", headers=auth).status_code == 200
    assert client.get("/portfolios", headers=auth).status_code == 429
    # And a different user is not affected
    other = bearer(client, 42, clock())
    assert client.get("/portfolios", headers=other).status_code == 200


def test_ip_rate_limit_on_nonce_issuance(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> None:
    settings = ApiSettings(rate_limit_nonce=BucketLimit(burst=2, per_second=0.5))
    client = TestClient(create_app(make_deps(api=settings, clock=clock)))
    assert [client.get("/auth/nonce").status_code for _ in range(3)] == [200, 200, 429]
    clock.advance(2.0)
    assert client.get("/auth/nonce").status_code == 200


def test_without_redis_the_api_fails_open_but_nonce_issuance_fails_closed(
    make_deps: Callable[..., ApiDeps], clock: ManualClock
) -> None:
    # Given a user signed in while Redis was up
    auth = bearer(TestClient(create_app(make_deps(clock=clock))), 43, clock())
    # When Redis becomes unreachable
    down = TestClient(create_app(make_deps(clock=clock, redis=connect_redis("redis://127.0.0.1:1/0", timeout=0.2))))
    # Then protected routes keep serving (no RateLimit headers: nothing was enforced)
    listed = down.get("/portfolios", headers=auth)
    assert listed.status_code == 200
    assert "ratelimit-limit" not in listed.headers
    # But no sign-in nonce is handed out
    nonce = down.get("/auth/nonce")
    assert nonce.status_code == 503
    assert nonce.headers["content-type"] == "application/problem+json"


def test_protected_routes_need_a_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/portfolios"),
        ("POST", "/portfolios"),
        ("GET", "/portfolios/1"),
        ("GET", "/auth/me"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 401, path


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/portfolios/{portfolio_id}/history" in spec.json()["paths"]
    assert client.get("/docs").status_code == 200


def test_auth_not_configured_is_a_503_problem(make_deps: Callable[..., ApiDeps]) -> None:
    from .conftest import auth_settings

    client = TestClient(create_app(make_deps(auth=auth_settings(jwt_keys={}, jwt_active_kid=None))))
    assert client.get("/health").status_code == 200
    response = client.get("/auth/nonce")
    assert response.status_code == 503
    assert response.json()["type"].endswith("/auth-not-configured")


def test_query_and_path_errors_name_the_parameter(client: TestClient, make_deps: Callable[..., ApiDeps]) -> None:
    clock = ManualClock(datetime.now(UTC).timestamp())
    app_client = TestClient(create_app(make_deps(clock=clock)))
    auth = bearer(app_client, 44, clock())
    bad_limit = app_client.get("/portfolios", params={"limit": 0}, headers=auth).json()
    assert bad_limit["errors"][0]["field"] == "limit"
    assert bad_limit["errors"][0]["in"] == "query"
    bad_id = app_client.get("/portfolios/abc", headers=auth).json()
    assert bad_id["errors"][0] | {"message": ""} == {"field": "portfolio_id", "in": "path", "message": ""}
