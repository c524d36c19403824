"""Redis access and the cache-aside helper with stale-if-error.

Entries are stored as a JSON envelope `{"v": value, "t": fetched_at}` with a long Redis expiry
(`keep_seconds`); freshness is judged against `ttl_seconds` from `t`. When the origin fails after
the TTL, the last value is served marked stale with its age, instead of an error. When Redis
itself is down, the origin is read directly: the cache is an optimisation, never a dependency.

redis-py is imported when a client is first used (`connect_redis` returns a client built on its
first command), not at this module's import: a cold start does not pay for it before a request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, cast

from tidewatch.observability import logger

if TYPE_CHECKING:
    import redis

    RedisClient: TypeAlias = redis.Redis
else:
    # Annotations only (every importer uses postponed annotations): redis-py stays unimported.
    RedisClient = Any

T = TypeVar("T")


class _RedisOnFirstUse:
    """A redis.Redis built, and redis-py imported, on the first attribute read; then every
    attribute is the real client's (commands, `connection_pool` for the SnapStart hooks)."""

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self._url = url
        self._kwargs = kwargs
        self._client: redis.Redis | None = None

    def _real(self) -> redis.Redis:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._client = redis.Redis.from_url(self._url, retry=Retry(NoBackoff(), 0), **self._kwargs)
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def connect_redis(url: str, *, timeout: float = 0.5) -> RedisClient:
    """A client with short timeouts and no retries: a slow cache must not make the API slow.

    redis-py retries a timed-out command three times by default, which turns a 0.5 s socket
    timeout into seconds per call against a stalled server; one attempt is enough for a cache (the
    caller reads the origin instead).
    """
    kwargs = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
        "decode_responses": False,
    }
    return cast("RedisClient", _RedisOnFirstUse(url, kwargs))


@dataclass(frozen=True)
class Cached(Generic[T]):
    """A value with where it came from and how old it is."""

    value: T
    source: str  # "cache" (fresh hit), "origin" (just loaded) or "stale" (origin failed)
    age_seconds: float

    @property
    def stale(self) -> bool:
        return self.source == "stale"


class CacheAside:
    """Cache-aside over Redis with a TTL and stale-if-error.

    `encode`/`decode` map values to JSON-compatible data; the default is identity (the value must
    already be JSON-compatible).
    """

    def __init__(
        self,
        client: RedisClient | None,
        namespace: str,
        *,
        ttl_seconds: float,
        keep_seconds: int = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._namespace = namespace
        self._ttl = ttl_seconds
        self._keep = keep_seconds
        self._clock = clock

    def key(self, key: str) -> str:
        return f"tw:{self._namespace}:{key}"

    def _read(self, key: str) -> tuple[Any, float] | None:
        if self._redis is None:
            return None
        import redis

        try:
            raw = self._redis.get(self.key(key))
        except redis.RedisError as exc:
            logger.warning("cache read failed", extra={"cache_key": key, "error": str(exc)})
            return None
        if raw is None:
            return None
        envelope = json.loads(raw)
        return envelope["v"], float(envelope["t"])

    def put(self, key: str, value: Any, *, fetched_at: float | None = None) -> None:
        if self._redis is None:
            return
        envelope = {"v": value, "t": self._clock() if fetched_at is None else fetched_at}
        import redis

        try:
            self._redis.set(self.key(key), json.dumps(envelope, separators=(",", ":")), ex=self._keep)
        except redis.RedisError as exc:
            logger.warning("cache write failed", extra={"cache_key": key, "error": str(exc)})

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], T],
        *,
        encode: Callable[[T], Any] = lambda v: v,
        decode: Callable[[Any], T] = lambda v: v,
    ) -> Cached[T]:
        now = self._clock()
        hit = self._read(key)
        if hit is not None and now - hit[1] < self._ttl:
            return Cached(decode(hit[0]), "cache", now - hit[1])
        try:
            value = loader()
        except Exception as exc:
            if hit is None:
                raise
            logger.warning("origin failed; serving stale value", extra={"cache_key": key, "error": str(exc)})
            return Cached(decode(hit[0]), "stale", now - hit[1])
        self.put(key, encode(value), fetched_at=now)
        return Cached(value, "origin", 0.0)
