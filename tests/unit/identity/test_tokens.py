"""JWT issue/verify with the key ring (no stores needed)."""

import jwt
import pytest

from tidewatch.identity.errors import AuthNotConfigured, InvalidToken
from tidewatch.identity.tokens import KeyRing, TokenService, key_ring_from_secret

KEYS = {"old": "o" * 32, "new": "n" * 32}


def service(ring: KeyRing, now: float = 1_000_000.0, audience: str = "tidewatch-api") -> TokenService:
    return TokenService(lambda: ring, issuer="tidewatch", audience=audience, lifetime_seconds=900, clock=lambda: now)


def test_round_trip_carries_claims() -> None:
    ring = KeyRing.from_secrets(KEYS, "new")
    token = service(ring).issue(user_id=42, address="0xabc", plan="pro")
    claims = service(ring).verify(token)
    assert (claims.user_id, claims.address, claims.plan) == (42, "0xabc", "pro")
    assert jwt.get_unverified_header(token)["kid"] == "new"


def test_hs256_key_confusion_and_none_are_refused() -> None:
    ring = KeyRing.from_secrets(KEYS, "new")
    claims = {"iss": "tidewatch", "aud": "tidewatch-api", "sub": "1", "iat": 1_000_000, "exp": 1_000_900, "jti": "x"}
    for token in [
        jwt.encode(claims, "", algorithm="none", headers={"kid": "new"}),
        jwt.encode(claims, KEYS["new"], algorithm="HS512", headers={"kid": "new"}),
    ]:
        with pytest.raises(InvalidToken):
            service(ring).verify(token)


def test_missing_required_claim_is_refused() -> None:
    ring = KeyRing.from_secrets(KEYS, "new")
    token = jwt.encode(
        {"iss": "tidewatch", "aud": "tidewatch-api", "sub": "1", "iat": 1_000_000, "exp": 1_000_900},
        KEYS["new"],
        algorithm="HS256",
        headers={"kid": "new"},
    )
    with pytest.raises(InvalidToken):
        service(ring).verify(token)


def test_key_ring_validation() -> None:
    with pytest.raises(AuthNotConfigured):
        KeyRing.from_secrets({}, None)
    with pytest.raises(ValueError, match="shorter"):
        KeyRing.from_secrets({"k": "short"}, None)
    assert KeyRing.from_secrets(KEYS, None).active_kid == "new"  # the last key by default


def test_secret_document_may_name_the_active_key() -> None:
    ring = key_ring_from_secret({"active": "old", "keys": KEYS}, None)
    assert ring.active_kid == "old"
    assert key_ring_from_secret(KEYS, "old").active_kid == "old"
