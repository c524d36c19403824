"""The in-memory position history (tests/fakes) answers as the Postgres one: the same requests,
runs and bookkeeping over both leave the same jobs, progress rows and address hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import pytest

from tests.fakes.backfill import InMemoryPositionHistory
from tidewatch.backfill import repository
from tidewatch.backfill.positions import request_history, run_pending
from tidewatch.backfill.repository import PositionHistoryRepository, PostgresPositionHistory, positions_scope
from tidewatch.chain.rpc import ChainClient, RetryPolicy, TransportError
from tidewatch.db import Database
from tidewatch.protocols.registry import load_registry

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 10, 17, tzinfo=UTC)
HOUR = datetime(2026, 11, 24, 10, tzinfo=UTC)
ALICE = "0x00000000000000000000000000000000000a11ce"
BOB = "0x0000000000000000000000000000000000000b0b"
JOB_COLUMNS = ("window_start", "window_end", "status", "error", "buckets_total", "buckets_done")
HOUR_COLUMNS = ("block_number", "supplied_usd", "borrowed_usd", "net_worth_usd", "min_health_factor")


class World(Protocol):
    repository: PositionHistoryRepository

    def job(self, chain_id: int, scope: str) -> tuple[Any, ...] | None: ...

    def hour(self, chain_id: int, address: str, bucket: datetime) -> tuple[Any, ...] | None: ...

    def bucket(self, chain_id: int, scope: str, bucket: datetime) -> tuple[Any, ...] | None: ...


class PostgresWorld:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.repository: PositionHistoryRepository = PostgresPositionHistory(db)

    def job(self, chain_id: int, scope: str) -> tuple[Any, ...] | None:
        with self.db.connection() as conn:
            rows = [r for r in repository.jobs(conn, [scope]) if r["chain_id"] == chain_id]
        return tuple(rows[0][c] for c in JOB_COLUMNS) if rows else None

    def hour(self, chain_id: int, address: str, bucket: datetime) -> tuple[Any, ...] | None:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT * FROM address_history WHERE chain_id = %s AND address = %s AND bucket_start = %s",
                (chain_id, address, bucket),
            ).fetchone()
        return tuple(row[c] for c in HOUR_COLUMNS) if row else None

    def bucket(self, chain_id: int, scope: str, bucket: datetime) -> tuple[Any, ...] | None:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT block_number, status, detail, rows_written FROM backfill_buckets"
                " WHERE chain_id = %s AND scope = %s AND bucket_start = %s",
                (chain_id, scope, bucket),
            ).fetchone()
        return (row["block_number"], row["status"], row["detail"], row["rows_written"]) if row else None


class MemoryWorld:
    def __init__(self) -> None:
        self.store = InMemoryPositionHistory()
        self.repository: PositionHistoryRepository = self.store

    def job(self, chain_id: int, scope: str) -> tuple[Any, ...] | None:
        row = self.store.jobs.get((chain_id, scope))
        return tuple(row[c] for c in JOB_COLUMNS) if row else None

    def hour(self, chain_id: int, address: str, bucket: datetime) -> tuple[Any, ...] | None:
        row = self.store.hours.get((chain_id, address, bucket))
        return tuple(row[c] for c in HOUR_COLUMNS) if row else None

    def bucket(self, chain_id: int, scope: str, bucket: datetime) -> tuple[Any, ...] | None:
        row = self.store.buckets.get((chain_id, scope, bucket))
        return (row["block_number"], row["status"], row["detail"], row["rows_written"]) if row else None


def _refused(url: str, body: bytes, timeout: float) -> bytes:
    raise TransportError("connection refused")


def story(world: World) -> list[Any]:
    """Requests, a run whose chain fails, then one job's bookkeeping told row by row."""
    repo = world.repository
    alice, bob = positions_scope(ALICE), positions_scope(BOB)
    out: list[Any] = []

    def pending() -> list[tuple[Any, ...]]:
        with repo.session() as records:
            rows = records.pending_positions_jobs()
        return [(r["chain_id"], r["scope"], r["window_start"], r["window_end"]) for r in rows]

    request_history(repo, ALICE, [1, 8453], NOW)
    request_history(repo, ALICE, [1], NOW + timedelta(days=3), days=7)  # a re-request: no-op
    request_history(repo, BOB, [1], NOW + timedelta(hours=1))
    out += [sorted(pending()), pending()[-1][1], world.job(1, alice)]

    failing = ChainClient(1, ["http://node"], transport=_refused, retry=RetryPolicy(rounds=1))
    results = run_pending(repo, load_registry("mainnet"), {1: failing})
    out += [sorted((r.chain_id, r.address, r.status) for r in results), world.job(1, alice), world.job(1, bob)]
    out.append(pending())

    first, second, third = HOUR - timedelta(hours=3), HOUR - timedelta(hours=2), HOUR - timedelta(hours=1)
    with repo.transaction() as records:
        records.start_job(8453, alice, first, HOUR, 3600, 3, 0)
        records.mark(8453, alice, first, block=100, status="filled", rows=0)
        records.mark(8453, alice, second, block=None, status="unfillable", detail="no block in this hour")
        records.mark(8453, alice, second, block=200, status="filled", rows=1)  # already marked: kept
        for supplied in (Decimal("1000.5"), Decimal("1")):  # the second is an hour already stored: kept
            records.save_address_hour(
                8453,
                ALICE,
                first,
                block=100,
                observed_at=first + timedelta(seconds=7),
                supplied=supplied,
                borrowed=Decimal("250.25"),
                health=Decimal("1.85"),
                positions_json="[]",
            )
        records.advance_job(8453, alice, 2)

    def killed_mid_hour() -> None:
        with repo.transaction() as records:
            records.mark(8453, alice, third, block=300, status="filled")
            records.advance_job(8453, alice, 1)
            raise RuntimeError("killed mid-hour")

    with pytest.raises(RuntimeError):
        killed_mid_hour()
    with repo.session() as records:
        out += [
            sorted(records.done_buckets(8453, alice, first, HOUR)),
            sorted(records.done_buckets(8453, alice, second, HOUR)),
            records.has_address_history(8453, ALICE),
            records.has_address_history(1, ALICE),
        ]
    out += [world.job(8453, alice), world.hour(8453, ALICE, first), world.hour(8453, ALICE, second)]
    out += [world.bucket(8453, alice, b) for b in (first, second, third)]

    # Restarted over a new window: running again, its error cleared, its counts replaced.
    with repo.transaction() as records:
        records.start_job(1, alice, second, HOUR, 3600, 2, 1)
    out.append(world.job(1, alice))
    with repo.transaction() as records:
        records.finish_job(8453, alice)
        records.finish_job(1, alice, error="node is not an archive node")
        records.drop_job(1, bob)
    out += [world.job(8453, alice), world.job(1, alice), world.job(1, bob), pending()]
    return out


def test_the_in_memory_position_history_answers_as_postgres(db: Database) -> None:
    # Given an empty position history in Postgres and in memory
    # When the same requests, run and bookkeeping go over both
    real, fake = story(PostgresWorld(db)), story(MemoryWorld())
    # Then they leave the same jobs, progress rows and address hours
    assert fake == real
    window = (HOUR - timedelta(days=30), HOUR)
    assert real[0] == [
        (1, positions_scope(BOB), HOUR - timedelta(days=30) + timedelta(hours=1), HOUR + timedelta(hours=1)),
        (1, positions_scope(ALICE), *window),
        (8453, positions_scope(ALICE), *window),
    ]
    assert real[1] == positions_scope(BOB)
    assert [status for _, _, status in real[3]] == ["failed", "failed"]
    assert real[4][2] == "failed"
    assert "connection refused" in real[4][3]
    assert real[-4][2:] == ("done", None, 3, 2)  # the killed hour rolled back
