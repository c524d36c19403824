"""The positions backfill's job bookkeeping over an in-memory store: a job that cannot run is
finished as failed with its reason and the others still run; a job on a chain without a client
stays pending; nothing starts once the time budget is spent. The chain reads and the stored hours
are covered against the devnet (tests/integration/chain/test_backfill.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes.backfill import InMemoryPositionHistory
from tidewatch.backfill.positions import run_pending
from tidewatch.backfill.repository import PositionHistoryRepository, positions_scope
from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.registry import Registry

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=30)
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


def refuse(url: str, body: bytes, timeout: float) -> bytes:
    raise AssertionError("no RPC call is expected")


def client(chain_id: int) -> ChainClient:
    return ChainClient(chain_id, ["http://127.0.0.1:9/rpc"], transport=refuse)


# A registry that knows no chain: every job's chain is unknown to it.
NO_CHAINS = Registry(name="empty", chains=())


def test_a_job_that_cannot_run_is_failed_with_its_reason_and_the_next_still_runs() -> None:
    # Given two pending jobs on a chain the registry does not know
    store = InMemoryPositionHistory()
    store.request(1, positions_scope(ALICE), START, END)
    store.request(1, positions_scope(BOB), START, END)
    history: PositionHistoryRepository = store
    # When the pending jobs run
    done = run_pending(history, NO_CHAINS, {1: client(1)})
    # Then each is reported failed with the reason, oldest first, and its job records it
    assert [(d.address, d.status) for d in done] == [(ALICE, "failed"), (BOB, "failed")]
    assert all("chain 1" in (d.detail or "") for d in done)
    for address in (ALICE, BOB):
        job = store.tables.jobs[(1, positions_scope(address))]
        assert job["status"] == "failed"
        assert "chain 1" in job["error"]
    # ... and nothing is pending any more
    with store.session() as records:
        assert records.pending_positions_jobs() == []


def test_a_job_on_a_chain_without_a_client_stays_pending() -> None:
    # Given a pending job on chain 8453 and a client for chain 1 only
    store = InMemoryPositionHistory()
    store.request(8453, positions_scope(ALICE), START, END)
    # When the pending jobs run
    done = run_pending(store, NO_CHAINS, {1: client(1)})
    # Then the job is neither run nor finished
    assert done == []
    assert store.tables.jobs[(8453, positions_scope(ALICE))]["status"] == "running"


def test_nothing_starts_once_the_time_budget_is_spent() -> None:
    # Given a pending job and a budget already spent
    store = InMemoryPositionHistory()
    store.request(1, positions_scope(ALICE), START, END)
    # When the pending jobs run
    done = run_pending(store, NO_CHAINS, {1: client(1)}, should_stop=lambda: True)
    # Then it waits for the next run
    assert done == []
    assert store.tables.jobs[(1, positions_scope(ALICE))]["status"] == "running"
