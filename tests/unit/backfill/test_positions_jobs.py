"""The positions backfill's job bookkeeping, over the in-memory history (tests/fakes/backfill.py).

The chain side is an in-process JSON-RPC transport (refusing, or counting what it is asked);
reading real positions at past blocks is covered on anvil in tests/integration/chain/test_backfill.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes.backfill import InMemoryPositionHistory
from tidewatch.backfill.positions import request_history, run_pending
from tidewatch.backfill.repository import positions_scope
from tidewatch.chain.rpc import ChainClient, RetryPolicy, TransportError
from tidewatch.protocols.registry import load_registry

NOW = datetime(2026, 11, 24, 10, 17, tzinfo=UTC)
HOUR_NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)
ALICE = "0x00000000000000000000000000000000000A11CE"
SCOPE = positions_scope(ALICE)
REGISTRY = load_registry("mainnet")


class Node:
    """A JSON-RPC endpoint that refuses every request, counting them."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.requests += 1
        raise TransportError("connection refused")


def client(chain_id: int, node: Node) -> ChainClient:
    return ChainClient(chain_id, ["http://node"], transport=node, retry=RetryPolicy(rounds=1))


def test_a_job_whose_chain_fails_is_marked_failed_with_the_reason() -> None:
    # Given a pending positions job on Ethereum, whose only RPC node refuses
    history = InMemoryPositionHistory()
    request_history(history, ALICE, [1], NOW)

    # When the pending jobs run
    (result,) = run_pending(history, REGISTRY, {1: client(1, Node())})

    # Then the job is failed, with the chain's error as its reason, and no longer pending
    assert (result.chain_id, result.address, result.status) == (1, ALICE.lower(), "failed")
    assert result.detail is not None
    assert "connection refused" in result.detail
    job = history.jobs[(1, SCOPE)]
    assert (job["status"], job["error"]) == ("failed", result.detail)
    with history.session() as records:
        assert records.pending_positions_jobs() == []


def test_a_job_on_a_chain_without_a_client_stays_pending() -> None:
    # Given pending jobs on Ethereum and Base, and a client for Ethereum only (which fails)
    history = InMemoryPositionHistory()
    request_history(history, ALICE, [1, 8453], NOW)

    # When the pending jobs run
    results = run_pending(history, REGISTRY, {1: client(1, Node())})

    # Then only Ethereum's job ran; Base's is untouched and still pending for the next run
    assert [(r.chain_id, r.status) for r in results] == [(1, "failed")]
    assert history.jobs[(8453, SCOPE)]["status"] == "running"
    assert history.jobs[(8453, SCOPE)]["error"] is None
    with history.session() as records:
        assert [(j["chain_id"], j["scope"]) for j in records.pending_positions_jobs()] == [(8453, SCOPE)]


def test_nothing_starts_once_the_time_budget_is_spent() -> None:
    # Given pending jobs on two chains, with nodes that count what they are asked
    history = InMemoryPositionHistory()
    request_history(history, ALICE, [1, 8453], NOW)
    nodes = {1: Node(), 8453: Node()}

    # When the pending jobs run with the time budget already spent
    results = run_pending(history, REGISTRY, {c: client(c, n) for c, n in nodes.items()}, should_stop=lambda: True)

    # Then no chain is asked anything, nothing is answered, and both jobs stay pending as they were
    assert results == []
    assert [n.requests for n in nodes.values()] == [0, 0]
    assert [j["status"] for j in history.jobs.values()] == ["running", "running"]
    assert not history.buckets
    assert not history.hours


def test_a_re_request_is_a_no_op() -> None:
    # Given a 30-day request for Alice on Ethereum, whose run failed
    history = InMemoryPositionHistory()
    request_history(history, ALICE, [1], NOW)
    run_pending(history, REGISTRY, {1: client(1, Node())})
    before = dict(history.jobs[(1, SCOPE)])

    # When the address is requested again, days later and for another length (mixed case)
    request_history(history, ALICE.lower(), [1], NOW + timedelta(days=3), days=7)

    # Then the job is the first one, window and outcome unchanged
    assert list(history.jobs) == [(1, SCOPE)]
    assert history.jobs[(1, SCOPE)] == before
    assert (before["window_start"], before["window_end"]) == (HOUR_NOW - timedelta(days=30), HOUR_NOW)
