"""The in-memory positions backfill records (tests/fakes) answer as the Postgres ones: the same
jobs are pending, the same hours are done, an address has history from the same write on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.fakes.backfill import InMemoryPositionHistory
from tidewatch.backfill import repository
from tidewatch.backfill.repository import PositionHistoryRepository, PostgresPositionHistory, positions_scope
from tidewatch.db import Database

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(hours=4)
HOURS = [START + timedelta(hours=i) for i in range(4)]
ALICE, BOB = "0x" + "a1" * 20, "0x" + "b2" * 20


def _failing_mark(history: PositionHistoryRepository) -> None:
    with history.transaction() as records:
        records.mark(1, positions_scope(ALICE), HOURS[3], block=13, status="filled", rows=1)
        raise RuntimeError("the unit of work fails: nothing of it is kept")


def story(history: PositionHistoryRepository, request: Callable[[int, str], None]) -> list[Any]:
    request(1, positions_scope(ALICE))
    request(1, positions_scope(BOB))
    request(1, positions_scope(ALICE))  # a re-request leaves the job alone
    out: list[Any] = []
    with history.session() as records:
        out.append(records.pending_positions_jobs())
        out.append(records.has_address_history(1, ALICE))
    with history.transaction() as records:
        scope = positions_scope(ALICE)
        records.start_job(1, scope, START, END, 3600, 4, 0)
        records.mark(1, scope, HOURS[0], block=10, status="filled", rows=0)
        records.mark(1, scope, HOURS[1], block=None, status="unfillable", detail="no block in this hour")
        for _ in range(2):  # an hour already stored is kept
            records.save_address_hour(
                1,
                ALICE,
                HOURS[2],
                block=12,
                observed_at=HOURS[2],
                supplied=Decimal(100),
                borrowed=Decimal(40),
                health=Decimal("1.5"),
                positions_json="[]",
            )
        records.mark(1, scope, HOURS[2], block=12, status="filled", rows=1)
        records.mark(1, scope, HOURS[2], block=12, status="filled", rows=1)
        records.advance_job(1, scope, 3)
    with pytest.raises(RuntimeError):
        _failing_mark(history)
    with history.transaction() as records:
        records.finish_job(1, positions_scope(ALICE))
        records.drop_job(1, positions_scope(BOB))
    with history.session() as records:
        out.append(sorted(records.done_buckets(1, positions_scope(ALICE), START, END)))
        out.append(sorted(records.done_buckets(1, positions_scope(ALICE), HOURS[1], HOURS[2])))
        out.append(records.has_address_history(1, ALICE))
        out.append(records.has_address_history(1, BOB))
        out.append(records.pending_positions_jobs())
    return out


def test_the_in_memory_position_history_answers_as_postgres(db: Database) -> None:
    # When the same bookkeeping runs over Postgres and in memory
    def in_postgres(chain_id: int, scope: str) -> None:
        with db.transaction() as conn:
            repository.request_positions_job(conn, chain_id, scope, START, END, 3600)

    fake_store = InMemoryPositionHistory()
    real = story(PostgresPositionHistory(db), in_postgres)
    fake = story(fake_store, lambda chain_id, scope: fake_store.request(chain_id, scope, START, END))
    # Then every answer is the same
    assert fake == real
    assert [j["scope"] for j in real[0]] == [positions_scope(ALICE), positions_scope(BOB)]
    assert real[2] == HOURS[:3]
    assert real[3:] == [[HOURS[1]], True, False, []]
