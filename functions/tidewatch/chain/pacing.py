"""A transport that keeps to a requests-per-second budget and slows down when the node says 429.

`PacedTransport` wraps any `Transport`. Before each HTTP request it waits for its turn under the
current rate; on HTTP 429 (or a JSON-RPC rate-limit error in a 200 answer) it pauses for the
node's `Retry-After` (or an exponential backoff when none is given), halves its rate and tries the
same URL again, up to `patience` times, before letting the error reach `ChainClient` (which then
fails over to the next URL). After a run of successes the rate climbs back by 10 % steps, never
above the configured budget. A long backfill thus settles just under what the provider allows,
instead of failing on the first 429.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tidewatch.chain.rpc import Transport, TransportError, urllib_transport

_RATE_LIMIT_CODES = frozenset({429, -32005})
_FLOOR_RPS = 0.2  # never slower than one request every 5 s
_FIRST_THROTTLED_RPS = 20.0  # an unbudgeted client that meets a 429 starts from this rate


class PacedTransport:
    def __init__(
        self,
        inner: Transport = urllib_transport,
        *,
        requests_per_second: float | None = None,
        patience: int = 8,
        max_pause_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.budget = requests_per_second
        self.rate = requests_per_second  # None: unpaced until the node objects
        self.patience = patience
        self.max_pause_seconds = max_pause_seconds
        self._sleep = sleep
        self._clock = clock
        self._next_at = 0.0
        self._streak = 0
        self.requests = 0
        self.throttled = 0  # 429s met (each followed by a pause and a retry)
        self.paused_seconds = 0.0

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        attempt = 0
        while True:
            self._wait_turn()
            self.requests += 1
            try:
                raw = self.inner(url, body, timeout)
            except TransportError as exc:
                if exc.status != 429 or attempt >= self.patience:
                    raise
                self._throttle(exc.retry_after, attempt)
                attempt += 1
                continue
            if attempt < self.patience and _rate_limited(raw):
                self._throttle(None, attempt)
                attempt += 1
                continue
            self._succeeded()
            return raw

    def _wait_turn(self) -> None:
        now = self._clock()
        if self.rate and now < self._next_at:
            self._pause(self._next_at - now)
            now = self._next_at
        self._next_at = now + (1.0 / self.rate if self.rate else 0.0)

    def _throttle(self, retry_after: float | None, attempt: int) -> None:
        self.throttled += 1
        self._streak = 0
        current = self.rate or _FIRST_THROTTLED_RPS
        self.rate = max(_FLOOR_RPS, current / 2)
        pause = retry_after if retry_after is not None else min(self.max_pause_seconds, 0.5 * 2**attempt)
        self._pause(min(self.max_pause_seconds, pause))

    def _succeeded(self) -> None:
        self._streak += 1
        if self.rate is None or self._streak < 20:
            return
        self._streak = 0
        if self.budget is None:
            self.rate *= 1.1
            if self.rate > 10 * _FIRST_THROTTLED_RPS:
                self.rate = None  # the node has stopped objecting: unpaced again
        else:
            self.rate = min(self.budget, self.rate * 1.1)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.paused_seconds += seconds
            self._sleep(seconds)


def _rate_limited(raw: bytes) -> bool:
    """A JSON-RPC rate-limit error inside an HTTP 200 (some providers answer so)."""
    if b'"error"' not in raw[:4096]:
        return False
    try:
        decoded = json.loads(raw)
    except ValueError:
        return False
    items = decoded if isinstance(decoded, list) else [decoded]
    for item in items:
        error = item.get("error") if isinstance(item, dict) else None
        if isinstance(error, dict) and error.get("code") in _RATE_LIMIT_CODES:
            return "revert" not in str(error.get("message", ""))
    return False
