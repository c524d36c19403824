"""JSON-RPC over HTTP with several URLs per chain: failover, timeouts, retry with backoff.

A round trip is one HTTP POST, which may carry a JSON-RPC batch. `ChainClient.round_trips` counts
them so tests and benchmarks can prove how many a tick costs. Transient failures (timeouts,
connection errors, HTTP 429/5xx, JSON-RPC rate-limit codes) move on to the next URL; when every
URL failed, the whole list is retried after an exponential backoff, and finally `ChainUnavailable`
names the chain and each URL's last error. A JSON-RPC error that is the node's deterministic answer
(e.g. "execution reverted") is raised at once as `RpcError`: another node would answer the same.

Two bounds keep a dead chain from holding a request: every attempt and pause is cut to what is
left of the request's RPC budget (`tidewatch.deadline`, total across calls, chains and rounds), and
a circuit breaker per client opens after consecutive failed calls, so while it is open calls fail
at once (callers serve their cached value, marked stale with its age) until a probe call is let
through after `cooldown_seconds`.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tidewatch import deadline
from tidewatch.errors import DomainError, UpstreamUnavailable

# JSON-RPC error codes that mean "try again / elsewhere" rather than "your call is wrong".
_TRANSIENT_RPC_CODES = frozenset({-32005, -32603, 429})
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransportError(Exception):
    """A transient failure of one HTTP exchange (timeout, refused connection, 429/5xx)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ChainUnavailable(UpstreamUnavailable):
    """Every RPC URL of a chain failed."""

    type_slug = "chain-unavailable"
    title = "Chain RPC unavailable"


class RpcError(DomainError):
    """The node answered with a JSON-RPC error for the request itself (not a transport failure)."""

    type_slug = "rpc-error"
    title = "JSON-RPC error"
    status = 502

    def __init__(self, detail: str, *, code: int | None = None, data: Any = None, **extra: Any) -> None:
        super().__init__(detail, code=code, **extra)
        self.code = code
        self.data = data


class Transport(Protocol):
    def __call__(self, url: str, body: bytes, timeout: float) -> bytes: ...


def urllib_transport(url: str, body: bytes, timeout: float) -> bytes:
    """POST `body` to `url` with the standard library (no import cost, works in every function)."""
    request = urllib.request.Request(  # noqa: S310 - URLs come from configuration (http/https)
        url, data=body, headers={"Content-Type": "application/json", "User-Agent": "tidewatch"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        if exc.code in _RETRY_STATUSES:
            raise TransportError(f"HTTP {exc.code}", status=exc.code, retry_after=_seconds(retry_after)) from exc
        # A 4xx other than 429 is a configuration problem of this URL (bad key, wrong path).
        raise TransportError(f"HTTP {exc.code}", status=exc.code) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransportError(f"{type(exc).__name__}: {reason}") from exc


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _redact(url: str) -> str:
    """Provider URLs often embed an API key in the path: keep scheme and host only."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}{sep}{host}"


class CircuitBreaker:
    """Closed → open after `threshold` consecutive failures → one probe after `cooldown_seconds`."""

    def __init__(
        self, *, threshold: int = 2, cooldown_seconds: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def open(self) -> bool:
        return self._opened_at is not None

    def retry_after(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())

    def allow(self) -> bool:
        """True if a call may go out: closed, or open long enough for one probe (half-open)."""
        if self._opened_at is None:
            return True
        if self._clock() - self._opened_at >= self.cooldown_seconds:
            self._opened_at = self._clock()  # this call is the probe; others keep failing fast
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.threshold:
            self._opened_at = self._clock()


@dataclass(frozen=True)
class RetryPolicy:
    rounds: int = 3  # passes over the whole URL list
    backoff_seconds: float = 0.25  # first pause between passes, doubled each pass (with jitter)
    max_backoff_seconds: float = 4.0


class ChainClient:
    """A JSON-RPC client for one chain over one or more URLs (in failover order)."""

    def __init__(
        self,
        chain_id: int,
        urls: Sequence[str],
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: Transport = urllib_transport,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not urls:
            raise ValueError(f"chain {chain_id}: no RPC URL configured")
        self.chain_id = chain_id
        self.urls = list(urls)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._transport = transport
        self._sleep = sleep
        self._ids = itertools.count(1)
        self._preferred = 0  # index of the URL that answered last: keep using it
        self.round_trips = 0
        self.breaker = breaker or CircuitBreaker()

    def request(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; returns its `result`."""
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Several JSON-RPC calls in ONE round trip (a JSON-RPC batch); results in call order."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload: Any = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)
        ]
        if len(calls) == 1:
            payload = payload[0]  # plain request: every node supports it, some limit batches
        body = json.dumps(payload, separators=(",", ":")).encode()
        raw = self._post(body)
        if len(calls) > 1 and isinstance(raw, dict):
            # Some public endpoints refuse JSON-RPC batches with one error object: send one by one.
            return [self.batch([call])[0] for call in calls]
        responses = raw if isinstance(raw, list) else [raw]
        by_id = {r.get("id"): r for r in responses if isinstance(r, dict)}
        results = []
        for i, (method, _) in zip(ids, calls, strict=True):
            response = by_id.get(i)
            if response is None:
                raise RpcError(f"chain {self.chain_id}: no response for {method}", chain_id=self.chain_id)
            if "error" in response and response["error"] is not None:
                error = response["error"]
                raise RpcError(
                    f"chain {self.chain_id}: {method} failed: {error.get('message')}",
                    code=error.get("code"),
                    data=error.get("data"),
                    chain_id=self.chain_id,
                )
            results.append(response.get("result"))
        return results

    def _post(self, body: bytes) -> Any:
        if not self.breaker.allow():
            wait = self.breaker.retry_after()
            raise ChainUnavailable(
                f"chain {self.chain_id}: RPC circuit open after repeated failures (next probe in {wait:.0f} s)",
                chain_id=self.chain_id,
                retry_after_seconds=round(wait, 1),
            )
        try:
            decoded = self._post_with_retries(body)
        except ChainUnavailable:
            self.breaker.failure()
            raise
        self.breaker.success()
        return decoded

    def _post_with_retries(self, body: bytes) -> Any:
        last_errors: dict[str, str] = {}
        order = self.urls[self._preferred :] + self.urls[: self._preferred]
        for attempt in range(self.retry.rounds):
            pause_hint = 0.0
            for url in order:
                timeout = deadline.cap(self.timeout, "rpc")
                if timeout <= 0:
                    last_errors["deadline"] = "the request's RPC time budget is spent"
                    break
                self.round_trips += 1
                try:
                    decoded = json.loads(self._transport(url, body, timeout))
                except TransportError as exc:
                    last_errors[_redact(url)] = str(exc)
                    pause_hint = max(pause_hint, exc.retry_after or 0.0)
                    continue
                except ValueError as exc:  # not JSON: a proxy error page
                    last_errors[_redact(url)] = f"invalid JSON-RPC response: {exc}"
                    continue
                if _is_transient(decoded):
                    last_errors[_redact(url)] = f"rate limited: {decoded}"[:200]
                    continue
                self._preferred = self.urls.index(url)
                return decoded
            if attempt + 1 < self.retry.rounds and not deadline.expired("rpc"):
                backoff = min(self.retry.max_backoff_seconds, self.retry.backoff_seconds * 2**attempt)
                pause = deadline.cap(max(pause_hint, backoff * (0.5 + random.random() / 2)), "rpc")
                if deadline.cap(pause + 0.05, "rpc") <= pause:
                    break  # no time left for another round after the pause
                self._sleep(pause)
            else:
                break
        detail = "; ".join(f"{u}: {e}" for u, e in last_errors.items())
        raise ChainUnavailable(
            f"chain {self.chain_id}: all {len(self.urls)} RPC URL(s) failed ({detail})", chain_id=self.chain_id
        )

    # Convenience wrappers ---------------------------------------------------------------------

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def eth_call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        result = self.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag])
        return bytes.fromhex(result[2:])


def _is_transient(decoded: Any) -> bool:
    items = decoded if isinstance(decoded, list) else [decoded]
    for item in items:
        error = item.get("error") if isinstance(item, dict) else None
        if (
            isinstance(error, dict)
            and error.get("code") in _TRANSIENT_RPC_CODES
            and "revert" not in str(error.get("message", ""))
        ):
            return True
    return False
