"""Token-bucket rate limiting in Redis, atomic through one Lua script per decision.

A bucket holds up to `burst` tokens and refills at `per_second`; each request takes one. State is
a small hash (tokens, last refill time in ms) that expires once the bucket would be full again, so
idle clients cost no memory. The caller's clock is passed in (not Redis TIME) so tests can move
time; clocks of Lambda hosts are NTP-synchronised, which is plenty at this resolution.

When Redis is unreachable the limiter fails open (the API keeps serving) with a warning and a
metric, unless the caller asks to fail closed (nonce issuance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tidewatch.cache import RedisClient
from tidewatch.errors import RateLimited, UpstreamUnavailable
from tidewatch.observability import MetricUnit, logger, metrics

# KEYS[1] bucket; ARGV: burst, refill per ms, now ms, cost.
# Returns {allowed (0/1), tokens left (string, Lua numbers lose fractions on return), wait ms}.
_TOKEN_BUCKET = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return {allowed, tostring(tokens), wait}
"""  # noqa: S105 - a Lua script, not a secret


@dataclass(frozen=True)
class Bucket:
    burst: int
    per_second: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after_seconds: int  # 0 when allowed
    enforced: bool = True  # False when Redis was down and we failed open

    def headers(self) -> dict[str, str]:
        """IETF draft `RateLimit-*` headers (plus Retry-After when refused)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class RateLimitExceeded(RateLimited):
    def __init__(self, decision: Decision, scope: str) -> None:
        super().__init__(
            f"rate limit for this {scope} exceeded; retry in {decision.retry_after_seconds} s",
            retry_after=decision.retry_after_seconds,
        )
        self.decision = decision
        self.headers = decision.headers()


class RateLimiter:
    """Token buckets in Redis. After a Redis failure, Redis is not tried again for `retry_after_failure`
    seconds (a small circuit breaker), so an unreachable Redis costs one timeout, not one per request."""

    def __init__(self, client: RedisClient, *, clock: Callable[[], float], retry_after_failure: float = 5.0) -> None:
        self._redis = client
        self._clock = clock
        self._script: Any = None  # registered on first use: registering builds the client
        self._retry_after_failure = retry_after_failure
        self._down_until = float("-inf")

    def _unavailable(self, bucket: Bucket, fail_closed: bool, exc: Exception | None) -> Decision:
        if fail_closed:
            raise UpstreamUnavailable("rate limiter unavailable; refusing rather than risking abuse") from exc
        logger.warning("rate limiter unavailable; failing open", extra={"error": str(exc) if exc else "circuit open"})
        metrics.add_metric(name="RateLimiterFailOpen", unit=MetricUnit.Count, value=1)
        return Decision(True, bucket.burst, bucket.burst, 0, 0, enforced=False)

    def take(self, key: str, bucket: Bucket, *, fail_closed: bool = False, cost: int = 1) -> Decision:
        now = self._clock()
        if now < self._down_until:
            return self._unavailable(bucket, fail_closed, None)
        rate_per_ms = bucket.per_second / 1000.0
        import redis

        if self._script is None:
            self._script = self._redis.register_script(_TOKEN_BUCKET)
        try:
            allowed, tokens_text, wait_ms = self._script(
                keys=[f"tw:rl:{key}"], args=[bucket.burst, repr(rate_per_ms), int(now * 1000), cost]
            )
        except redis.RedisError as exc:
            self._down_until = now + self._retry_after_failure
            return self._unavailable(bucket, fail_closed, exc)
        tokens = float(tokens_text)
        return Decision(
            allowed=bool(allowed),
            limit=bucket.burst,
            remaining=max(0, math.floor(tokens)),
            reset_seconds=math.ceil((bucket.burst - tokens) / bucket.per_second),
            retry_after_seconds=max(1, math.ceil(int(wait_ms) / 1000)) if not allowed else 0,
        )

    def enforce(self, key: str, bucket: Bucket, *, scope: str, fail_closed: bool = False) -> Decision:
        decision = self.take(key, bucket, fail_closed=fail_closed)
        if not decision.allowed:
            metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
            raise RateLimitExceeded(decision, scope)
        return decision
