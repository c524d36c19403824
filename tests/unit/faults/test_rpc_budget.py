"""RPC reads under a stalled node: one total budget per request, a breaker that fails fast."""

from __future__ import annotations

import time

import pytest

from tidewatch import deadline
from tidewatch.chain.rpc import ChainClient, ChainUnavailable, CircuitBreaker, RetryPolicy, TransportError


class StalledTransport:
    """A node that never answers: each call takes its whole timeout, then fails."""

    def __init__(self) -> None:
        self.calls = 0
        self.timeouts: list[float] = []

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.calls += 1
        self.timeouts.append(timeout)
        time.sleep(timeout)
        raise TransportError("TimeoutError: timed out")


def test_the_rpc_budget_is_total_across_calls_rounds_and_chains() -> None:
    # Given two chains whose nodes hang, 10 s per call and 3 retry rounds each (60 s unbounded)
    transport = StalledTransport()
    clients = [
        ChainClient(
            chain,
            ["http://node"],
            timeout=10,
            retry=RetryPolicy(rounds=3, backoff_seconds=0.01),
            transport=transport,
            breaker=CircuitBreaker(threshold=99),
        )
        for chain in (1, 8453)
    ]
    started = time.monotonic()
    # When a request with a 0.6 s RPC budget reads both chains, each twice
    with deadline.bounded(request=5, rpc=0.6):
        for client in clients * 2:
            with pytest.raises(ChainUnavailable):
                client.block_number()
    elapsed = time.monotonic() - started
    # Then all of it took about the budget, not 4 x 3 x 10 s, and no call waited past the budget
    assert elapsed < 1.0
    assert max(transport.timeouts) <= 0.6


def test_an_open_breaker_fails_at_once_then_lets_one_probe_through() -> None:
    # Given a chain whose node hangs, a breaker opening after 2 failures with a 0.3 s cooldown
    transport = StalledTransport()
    client = ChainClient(
        1,
        ["http://node"],
        timeout=0.1,
        retry=RetryPolicy(rounds=1),
        transport=transport,
        breaker=CircuitBreaker(threshold=2, cooldown_seconds=0.3),
    )
    for _ in range(2):
        with pytest.raises(ChainUnavailable):
            client.block_number()
    # When the next call comes while the breaker is open
    started = time.monotonic()
    with pytest.raises(ChainUnavailable, match="circuit open") as raised:
        client.block_number()
    # Then it fails without touching the node, saying when the next probe goes
    assert time.monotonic() - started < 0.01
    assert transport.calls == 2
    assert 0 < raised.value.extra["retry_after_seconds"] <= 0.3
    # And after the cooldown one probe reaches the node again
    time.sleep(0.35)
    with pytest.raises(ChainUnavailable):
        client.block_number()
    assert transport.calls == 3


def test_a_successful_probe_closes_the_breaker() -> None:
    # Given an open breaker whose node has recovered
    answers = iter([TransportError("down"), TransportError("down")])

    def transport(url: str, body: bytes, timeout: float) -> bytes:
        answer = next(answers, None)
        if answer is not None:
            raise answer
        return b'{"jsonrpc":"2.0","id":3,"result":"0x2a"}'

    client = ChainClient(
        1,
        ["http://node"],
        retry=RetryPolicy(rounds=1),
        transport=transport,
        breaker=CircuitBreaker(threshold=2, cooldown_seconds=0.0),
    )
    for _ in range(2):
        with pytest.raises(ChainUnavailable):
            client.block_number()
    # When the probe succeeds
    assert client.block_number() == 42
    # Then the breaker is closed again
    assert not client.breaker.open
