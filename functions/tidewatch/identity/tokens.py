"""JWT access tokens with pyjwt: HS256 pinned, a key ring addressed by `kid` for rotation.

Rotation without logging anyone out: add the new key to the ring, make it active (it signs), keep
the old one until the longest access token it signed has expired (it still verifies), then drop it.
The algorithm is fixed on both sides, so `alg: none` and RS/HS confusion are refused by pyjwt.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tidewatch.identity.errors import AuthNotConfigured, InvalidToken

ALGORITHM = "HS256"
_MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash output


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, bytes]
    active_kid: str

    @classmethod
    def from_secrets(cls, keys: Mapping[str, str], active_kid: str | None) -> KeyRing:
        if not keys:
            raise AuthNotConfigured(
                "no JWT signing keys configured (TIDEWATCH_JWT_KEYS or TIDEWATCH_JWT_KEYS_SECRET_ARN)"
            )
        encoded = {kid: secret.encode() for kid, secret in keys.items()}
        short = [kid for kid, key in encoded.items() if len(key) < _MIN_KEY_BYTES]
        if short:
            raise ValueError(f"JWT key(s) {short} shorter than {_MIN_KEY_BYTES} bytes")
        kid = active_kid or list(encoded)[-1]
        if kid not in encoded:
            raise ValueError(f"active kid {kid!r} is not in the key ring")
        return cls(keys=encoded, active_kid=kid)


def key_ring_from_secret(document: Mapping[str, object], active_kid: str | None) -> KeyRing:
    """A ring from a secret: either `{kid: secret}` or `{"active": kid, "keys": {kid: secret}}`."""
    keys = document.get("keys")
    if isinstance(keys, dict):
        active = document.get("active")
        return KeyRing.from_secrets({str(k): str(v) for k, v in keys.items()}, str(active) if active else active_kid)
    return KeyRing.from_secrets({str(k): str(v) for k, v in document.items()}, active_kid)


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    address: str
    plan: str
    jti: str
    expires_at: int


class TokenService:
    """Issues and verifies access tokens; `ring` is called each time, so a key source that re-reads
    Secrets Manager (cached for minutes) picks up a rotation without a redeploy."""

    def __init__(
        self,
        ring: Callable[[], KeyRing],
        *,
        issuer: str,
        audience: str,
        lifetime_seconds: int,
        clock: Callable[[], float],
        leeway_seconds: int = 0,
    ) -> None:
        self._ring = ring
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._leeway = leeway_seconds

    @property
    def lifetime_seconds(self) -> int:
        return self._lifetime

    def issue(self, *, user_id: int, address: str, plan: str) -> str:
        now = int(self._clock())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
            "jti": uuid.uuid4().hex,
            "addr": address,
            # The plan rides in the token so rate limiting needs no database read; a plan change
            # applies from the next refresh (access tokens are short-lived).
            "plan": plan,
        }
        import jwt  # pyjwt pulls in cryptography (~20 ms): paid on first use, not at cold start

        ring = self._ring()
        kid = ring.active_kid
        return jwt.encode(claims, ring.keys[kid], algorithm=ALGORITHM, headers={"kid": kid})

    def verify(self, token: str) -> AccessClaims:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("token is not a JWT") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm is not accepted")
        kid = header.get("kid")
        key = self._ring().keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("token key id is unknown")
        try:
            # pyjwt checks exp/nbf/iat against time.time(); we check them against our clock below
            # so that tests (and the rate limiter) share one notion of now.
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["iss", "aud", "sub", "iat", "exp", "jti"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token audience is not this API") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token issuer is not accepted") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("token is invalid") from exc
        now = self._clock()
        try:
            exp = int(claims["exp"])
            iat = int(claims["iat"])
            nbf = int(claims.get("nbf", iat))
            user_id = int(claims["sub"])
        except (TypeError, ValueError) as exc:
            raise InvalidToken("token claims are malformed") from exc
        if now >= exp + self._leeway:
            raise InvalidToken("token has expired")
        if now + self._leeway < nbf or now + self._leeway < iat:
            raise InvalidToken("token is not valid yet")
        return AccessClaims(
            user_id=user_id,
            address=str(claims.get("addr", "")),
            plan=str(claims.get("plan", "free")),
            jti=str(claims["jti"]),
            expires_at=exp,
        )
