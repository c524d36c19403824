"""The Redis token bucket itself: atomic under concurrency, refills with the clock, fails open."""

import threading

import pytest
import redis

from tidewatch.cache import connect_redis
from tidewatch.errors import UpstreamUnavailable
from tidewatch.ratelimit import Bucket, RateLimiter

from .conftest import ManualClock

pytestmark = pytest.mark.integration


def test_concurrent_requests_never_overspend_the_bucket(redis_client: redis.Redis) -> None:
    # Given a bucket of 10 and 8 threads racing 5 requests each at the same instant
    limiter = RateLimiter(redis_client, clock=ManualClock())
    bucket = Bucket(burst=10, per_second=0.001)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(5):
            decision = limiter.take("race", bucket)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly the burst was granted
    assert allowed.count(True) == 10
    assert len(allowed) == 40


def test_refill_is_proportional_to_elapsed_time(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    limiter = RateLimiter(redis_client, clock=clock)
    bucket = Bucket(burst=4, per_second=2.0)
    assert [limiter.take("k", bucket).allowed for _ in range(5)] == [True] * 4 + [False]
    refused = limiter.take("k", bucket)
    assert refused.retry_after_seconds == 1
    clock.advance(1.0)  # two tokens back
    assert [limiter.take("k", bucket).allowed for _ in range(3)] == [True, True, False]
    clock.advance(60)  # never more than the burst
    assert [limiter.take("k", bucket).allowed for _ in range(5)] == [True] * 4 + [False]


def test_bucket_state_expires_when_full_again(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, clock=ManualClock())
    limiter.take("idle", Bucket(burst=2, per_second=1.0))
    ttl = redis_client.pttl("tw:rl:idle")
    assert 0 < int(ttl) <= 2000


def test_redis_down_fails_open_then_skips_redis_for_a_while() -> None:
    clock = ManualClock()
    limiter = RateLimiter(connect_redis("redis://127.0.0.1:1/0", timeout=0.2), clock=clock, retry_after_failure=5)
    bucket = Bucket(burst=1, per_second=1.0)
    first = limiter.take("k", bucket)
    assert first.allowed
    assert not first.enforced
    # While the circuit is open, closed-failing callers are refused without touching Redis
    with pytest.raises(UpstreamUnavailable):
        limiter.take("k", bucket, fail_closed=True)
    assert limiter.take("k", bucket).allowed
