"""Single-use sign-in nonces in Redis: issued with a short TTL, consumed atomically (DEL)."""

from __future__ import annotations

import secrets
import string

from tidewatch.cache import RedisClient
from tidewatch.errors import UpstreamUnavailable

_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 17  # EIP-4361 asks for ≥ 8 alphanumerics; 17 gives ~101 bits


class NonceStore:
    def __init__(self, client: RedisClient, *, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @staticmethod
    def _key(nonce: str) -> str:
        return f"tw:siwe:nonce:{nonce}"

    def issue(self) -> str:
        """A fresh nonce. Fails closed: without Redis no nonce is handed out."""
        import redis

        nonce = "".join(secrets.choice(_ALPHABET) for _ in range(NONCE_LENGTH))
        try:
            self._redis.set(self._key(nonce), b"1", ex=self._ttl, nx=True)
        except redis.RedisError as exc:
            raise UpstreamUnavailable("sign-in is temporarily unavailable (nonce store unreachable)") from exc
        return nonce

    def consume(self, nonce: str) -> bool:
        """True exactly once per issued, unexpired nonce: DEL is atomic, so a replay finds nothing."""
        import redis

        try:
            return int(self._redis.delete(self._key(nonce))) == 1
        except redis.RedisError as exc:
            raise UpstreamUnavailable("sign-in is temporarily unavailable (nonce store unreachable)") from exc
