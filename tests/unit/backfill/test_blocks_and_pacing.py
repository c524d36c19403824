"""Block-by-timestamp search and request pacing, over an in-process JSON-RPC node.

The node answers `eth_getBlockByNumber` from a list of block timestamps (the tests on anvil cover
real nodes); here the search is checked against brute force on irregular chains.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tidewatch.backfill.window import make_window
from tidewatch.chain.blocks import BlockIndex
from tidewatch.chain.pacing import PacedTransport
from tidewatch.chain.rpc import ChainClient, TransportError
from tidewatch.errors import InvalidInput
from tidewatch.markets.gaps import find_gaps


class HeaderNode:
    def __init__(self, timestamps: list[int]) -> None:
        self.timestamps = timestamps
        self.requests = 0

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.requests += 1
        payload = json.loads(body)
        calls = payload if isinstance(payload, list) else [payload]
        out = []
        for call in calls:
            tag = call["params"][0]
            number = len(self.timestamps) - 1 if tag == "latest" else int(tag, 16)
            header = {"number": hex(number), "timestamp": hex(self.timestamps[number])}
            out.append({"jsonrpc": "2.0", "id": call["id"], "result": header})
        return json.dumps(out if isinstance(payload, list) else out[0]).encode()


def _chain(blocks: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    timestamps = [0, 1_438_269_988]  # Ethereum: genesis dated 1970, block 1 in July 2015
    for _ in range(blocks):
        timestamps.append(timestamps[-1] + rng.choice([12, 12, 12, 24, 2, 600]))
    return timestamps


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_hour_resolves_to_the_first_block_at_or_after_it_in_few_round_trips(seed: int) -> None:
    # Given an irregular chain of 200,000 blocks
    timestamps = _chain(200_000, seed)
    node = HeaderNode(timestamps)
    index = BlockIndex(ChainClient(1, ["http://node"], transport=node), batch_size=1000)
    head = timestamps[-1]
    hours = [head - h * 3600 for h in range(1, 721)]

    # When 720 hourly timestamps are resolved at once
    found = index.first_at_or_after(hours)

    # Then each is the first block at or after its hour, as brute force says
    assert found == {t: bisect.bisect_left(timestamps, t) for t in hours}
    # ... in a few dozen HTTP requests, not 720 × log2(200,000)
    assert node.requests < 60


def test_a_time_after_the_head_is_refused() -> None:
    node = HeaderNode(_chain(1000, 4))
    index = BlockIndex(ChainClient(1, ["http://node"], transport=node))
    with pytest.raises(InvalidInput, match="after the chain head"):
        index.first_at_or_after([node.timestamps[-1] + 3600])


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_pacing_keeps_the_budget_and_a_rate_limit_answer_halves_it() -> None:
    # Given a node that answers 200 with a JSON-RPC rate-limit error to every 4th request
    clock = _Clock()
    seen: list[float] = []

    def node(url: str, body: bytes, timeout: float) -> bytes:
        seen.append(clock.now)
        if len(seen) % 4 == 0:
            return b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}'
        return b'{"jsonrpc":"2.0","id":1,"result":"0x1"}'

    paced = PacedTransport(node, requests_per_second=10, sleep=clock.sleep, clock=clock)

    # When 9 requests go through it
    for _ in range(9):
        assert json.loads(paced("http://node", b"{}", 1.0))["result"] == "0x1"

    # Then every refused request was retried, requests were spaced by the budget, and the rate fell
    assert paced.throttled == 2  # the 4th and 8th of 11 node requests
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 0.1 - 1e-9
    assert paced.rate is not None
    assert paced.rate < 10


def test_a_429_without_retry_after_backs_off_and_gives_up_after_its_patience() -> None:
    clock = _Clock()

    def refusing(url: str, body: bytes, timeout: float) -> bytes:
        raise TransportError("HTTP 429", status=429)

    paced = PacedTransport(refusing, patience=3, sleep=clock.sleep, clock=clock)
    with pytest.raises(TransportError):
        paced("http://node", b"{}", 1.0)
    assert paced.throttled == 3
    assert paced.paused_seconds >= 0.5 + 1.0 + 2.0


def test_windows_refuse_the_future_and_more_than_a_year() -> None:
    now = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
    window = make_window(now=now, days=30)
    assert window.end == datetime(2026, 12, 1, 20, tzinfo=UTC)
    assert len(window.buckets()) == 720
    with pytest.raises(InvalidInput, match="in the future"):
        make_window(now=now, start=now + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="366"):
        make_window(now=now, start=now - timedelta(days=400))
    with pytest.raises(InvalidInput, match="time zone"):
        make_window(now=now, start=datetime(2026, 11, 1))


def test_gaps_are_runs_of_empty_buckets_told_apart_by_reason() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(10)]
    filled = [hours[i] for i in (0, 1, 4, 8, 9)]
    gaps = find_gaps(start, hours[-1] + timedelta(hours=1), 3600, filled, unfillable=[hours[5], hours[6]])
    assert [(g.start, g.buckets, g.reason) for g in gaps] == [
        (hours[2], 2, "missing"),
        (hours[5], 2, "unfillable"),
        (hours[7], 1, "missing"),
    ]
