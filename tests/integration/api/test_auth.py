from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from tidewatch.errors import PROBLEM_BASE

from .conftest import JWT_KEYS, ManualClock, auth_settings
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def app_client(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> TestClient:
    return TestClient(create_app(make_deps(clock=clock)), raise_server_exceptions=False)


def problem_type(response: Any) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["type"]).removeprefix(PROBLEM_BASE)


def test_full_sign_in_gives_tokens_that_open_protected_routes(app_client: TestClient, clock: ManualClock) -> None:
    # Given a wallet with a real secp256k1 key
    wallet = Wallet(seed=7)
    # When it fetches a nonce, signs an EIP-4361 message and verifies it
    tokens = wallet.sign_in(app_client, now=clock())
    # Then it receives an access token whose claims name it, and a refresh token
    assert tokens["token_type"] == "Bearer"
    assert tokens["user"]["address"] == wallet.address
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header == {"alg": "HS256", "kid": "k2", "typ": "JWT"}
    claims = jwt.decode(tokens["access_token"], JWT_KEYS["k2"], algorithms=["HS256"], audience="tidewatch-api")
    assert {"iss", "aud", "exp", "iat", "sub", "jti"} <= claims.keys()
    # And the access token opens a protected route
    me = app_client.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["address"] == wallet.address
    # And without a token the same route answers 401 problem
    anonymous = app_client.get("/auth/me")
    assert anonymous.status_code == 401
    assert problem_type(anonymous) == "unauthorized"


def test_signing_in_twice_keeps_one_user(app_client: TestClient, clock: ManualClock) -> None:
    wallet = Wallet(seed=8)
    first = wallet.sign_in(app_client, now=clock())
    second = wallet.sign_in(app_client, now=clock())
    assert first["user"]["id"] == second["user"]["id"]


def _attempt(
    client: TestClient, wallet: Wallet, now: float, *, sign_with: Wallet | None = None, **overrides: Any
) -> Any:
    nonce = client.get("/auth/nonce").json()["nonce"]
    text = wallet.message(nonce, now=now, **overrides)
    return client.post("/auth/verify", json={"message": text, "signature": (sign_with or wallet).sign(text)})


@pytest.mark.parametrize(
    ("case", "status", "slug"),
    [
        ("wrong-domain", 401, "siwe-domain-mismatch"),
        ("wrong-uri", 401, "siwe-uri-mismatch"),
        ("wrong-chain", 400, "siwe-unsupported-chain"),
        ("expired", 401, "siwe-expired"),
        ("not-yet-valid", 401, "siwe-not-yet-valid"),
        ("bad-signature", 401, "siwe-invalid-signature"),
        ("unknown-nonce", 401, "siwe-invalid-nonce"),
    ],
)
def test_each_siwe_rule_violation_has_its_own_problem(
    app_client: TestClient, clock: ManualClock, case: str, status: int, slug: str
) -> None:
    # Given a wallet and a message breaking exactly one rule
    wallet = Wallet(seed=9)
    now = clock()
    overrides: dict[str, Any] = {  # type: ignore[assignment]
        "wrong-domain": {"domain": "evil.example"},
        "wrong-uri": {"uri": "https://evil.example/login"},
        "wrong-chain": {"chain_id": 56},
        "expired": {
            "issued_at": datetime.fromtimestamp(now - 600, UTC),
            "expiration_time": datetime.fromtimestamp(now - 300, UTC),
        },
        "not-yet-valid": {"not_before": datetime.fromtimestamp(now + 3600, UTC)},
        "bad-signature": {},
        "unknown-nonce": {},
    }[case]
    if case == "unknown-nonce":
        text = wallet.message("neverissued123", now=now)
        response = app_client.post("/auth/verify", json={"message": text, "signature": wallet.sign(text)})
    else:
        # When it is verified (a bad signature: signed by another key)
        response = _attempt(
            app_client, wallet, now, sign_with=Wallet(seed=10) if case == "bad-signature" else None, **overrides
        )
    # Then the answer is the rule's own problem type
    assert response.status_code == status, response.text
    assert problem_type(response) == slug


def test_replayed_sign_in_message_is_refused(app_client: TestClient, clock: ManualClock) -> None:
    # Given a message that already signed in once
    wallet = Wallet(seed=11)
    nonce = app_client.get("/auth/nonce").json()["nonce"]
    text = wallet.message(nonce, now=clock())
    body = {"message": text, "signature": wallet.sign(text)}
    assert app_client.post("/auth/verify", json=body).status_code == 200
    # When the same message and signature are sent again
    replay = app_client.post("/auth/verify", json=body)
    # Then the nonce is gone
    assert replay.status_code == 401
    assert problem_type(replay) == "siwe-invalid-nonce"


def test_malformed_message_is_a_400_problem(app_client: TestClient) -> None:
    response = app_client.post("/auth/verify", json={"message": "hello", "signature": "0x00"})
    assert response.status_code == 400
    assert problem_type(response) == "siwe-malformed"


def test_unchecksummed_address_in_message_is_malformed(app_client: TestClient, clock: ManualClock) -> None:
    wallet = Wallet(seed=12)
    nonce = app_client.get("/auth/nonce").json()["nonce"]
    text = wallet.message(nonce, now=clock()).replace(wallet.address, wallet.address.lower())
    response = app_client.post("/auth/verify", json={"message": text, "signature": wallet.sign(text)})
    assert response.status_code == 400
    assert response.json()["field"] == "address"


class FakeContractWallets:
    """EIP-1271 stand-in: one smart wallet that accepts one signature."""

    def __init__(self, address: str, accepted: bytes) -> None:
        self.address = address
        self.accepted = accepted
        self.calls: list[tuple[int, str]] = []

    def is_valid_signature(self, chain_id: int, address: str, message_hash: bytes, signature: bytes) -> bool:
        self.calls.append((chain_id, address))
        return address == self.address and signature == self.accepted and len(message_hash) == 32


def test_smart_contract_wallet_signs_in_through_eip1271(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> None:
    # Given a contract wallet (no private key) whose on-chain check accepts an owner's signature
    contract_address = "0x000000000000000000000000000000000000dEaD"
    owner = Wallet(seed=13)
    contracts = FakeContractWallets(contract_address, accepted=b"")
    client = TestClient(create_app(make_deps(clock=clock, contract_signatures=contracts)))
    nonce = client.get("/auth/nonce").json()["nonce"]
    text = owner.message(nonce, now=clock(), address=contract_address, chain_id=8453)
    signature = owner.sign(text)
    contracts.accepted = bytes.fromhex(signature[2:])
    # When the message naming the contract is verified
    response = client.post("/auth/verify", json={"message": text, "signature": signature})
    # Then the on-chain checker was asked on the message's chain and the contract is signed in
    assert response.status_code == 200, response.text
    assert response.json()["user"]["address"] == contract_address
    assert contracts.calls == [(8453, contract_address)]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tampered_none_expired_and_foreign_tokens_fail(app_client: TestClient, clock: ManualClock) -> None:
    tokens = Wallet(seed=14).sign_in(app_client, now=clock())
    good = tokens["access_token"]
    claims = jwt.decode(good, JWT_KEYS["k2"], algorithms=["HS256"], audience="tidewatch-api")
    # Tampered payload (sub changed, signature kept)
    header, payload, signature = good.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(f'"sub":"{claims["sub"]}"'.encode(), b'"sub":"999"')
    ).decode()
    tampered = f"{header}.{forged_payload}.{signature}"
    # alg=none
    unsigned = jwt.encode(claims, key="", algorithm="none", headers={"kid": "k2"})
    # Expired (signed correctly)
    expired = jwt.encode(
        claims | {"exp": int(clock()) - 10, "iat": int(clock()) - 1000}, JWT_KEYS["k2"], "HS256", {"kid": "k2"}
    )
    # Wrong audience (signed correctly)
    foreign = jwt.encode(claims | {"aud": "someone-else"}, JWT_KEYS["k2"], "HS256", {"kid": "k2"})
    # Unknown kid, and a key that is not ours
    unknown_kid = jwt.encode(claims, JWT_KEYS["k2"], "HS256", {"kid": "k9"})
    wrong_key = jwt.encode(claims, "x" * 40, "HS256", {"kid": "k2"})
    for name, token in {
        "tampered": tampered,
        "none": unsigned,
        "expired": expired,
        "audience": foreign,
        "kid": unknown_kid,
        "key": wrong_key,
        "garbage": "not.a.jwt",
    }.items():
        response = app_client.get("/auth/me", headers=_bearer(token))
        assert response.status_code == 401, name
        assert problem_type(response) == "invalid-token", name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
    assert app_client.get("/auth/me", headers=_bearer(good)).status_code == 200


def test_access_token_expires_with_the_clock(app_client: TestClient, clock: ManualClock) -> None:
    tokens = Wallet(seed=15).sign_in(app_client, now=clock())
    clock.advance(tokens["expires_in"] + 1)
    response = app_client.get("/auth/me", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_key_rotation_keeps_old_tokens_valid(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> None:
    # Given a token signed while k1 was the active key
    before = TestClient(create_app(make_deps(clock=clock, auth=auth_settings(jwt_active_kid="k1"))))
    token = Wallet(seed=16).sign_in(before, now=clock())["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    # When k2 becomes active (k1 still in the ring)
    after = TestClient(create_app(make_deps(clock=clock, auth=auth_settings(jwt_active_kid="k2"))))
    # Then the old token still works, and new tokens carry k2
    assert after.get("/auth/me", headers=_bearer(token)).status_code == 200
    assert jwt.get_unverified_header(Wallet(seed=17).sign_in(after, now=clock())["access_token"])["kid"] == "k2"
    # And once k1 is dropped from the ring, its tokens stop working
    dropped = TestClient(
        create_app(make_deps(clock=clock, auth=auth_settings(jwt_keys={"k2": JWT_KEYS["k2"]}, jwt_active_kid="k2")))
    )
    assert dropped.get("/auth/me", headers=_bearer(token)).status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
    app_client: TestClient, clock: ManualClock
) -> None:
    # Given a signed-in user
    first = Wallet(seed=18).sign_in(app_client, now=clock())
    # When the refresh token is used
    second = app_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert app_client.get("/auth/me", headers=_bearer(rotated["access_token"])).status_code == 200
    # Then the old one cannot be used again, and its reuse kills the successor too
    reuse = app_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert problem_type(reuse) == "invalid-refresh-token"
    successor = app_client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert successor.status_code == 401


def test_logout_revokes_the_refresh_token(app_client: TestClient, clock: ManualClock) -> None:
    tokens = Wallet(seed=19).sign_in(app_client, now=clock())
    out = app_client.post(
        "/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=_bearer(tokens["access_token"])
    )
    assert out.status_code == 204
    again = app_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def test_refresh_token_expires(app_client: TestClient, clock: ManualClock) -> None:
    tokens = Wallet(seed=20).sign_in(app_client, now=clock())
    clock.advance(timedelta(days=31).total_seconds())
    response = app_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
