"""In-memory `PositionHistoryRepository` (tidewatch.backfill.repository).

Rows look as the Postgres adapter keeps them: `jobs` holds `backfill_jobs` rows by (chain, scope),
`buckets` the `backfill_buckets` rows by (chain, scope, bucket), `hours` the `address_history` rows
by (chain, address, bucket). Pending jobs come back in the order they were first requested (the
table's `started_at`); a unit of work that raises is rolled back, as a transaction would be.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.fakes.unit_of_work import InMemoryUnitOfWork


class InMemoryPositionHistoryRecords:
    def __init__(self, owner: InMemoryPositionHistory) -> None:
        self._owner = owner

    def request_positions_job(self, chain_id: int, scope: str, start: datetime, end: datetime, step: int) -> None:
        self._owner.jobs.setdefault(
            (chain_id, scope),
            {
                "chain_id": chain_id,
                "scope": scope,
                "window_start": start,
                "window_end": end,
                "step_seconds": step,
                "status": "running",
                "buckets_total": 0,
                "buckets_done": 0,
                "error": None,
            },
        )

    def pending_positions_jobs(self) -> list[dict[str, Any]]:
        return [
            {k: row[k] for k in ("chain_id", "scope", "window_start", "window_end")}
            for row in self._owner.jobs.values()
            if row["scope"].startswith("positions:") and row["status"] == "running"
        ]

    def drop_job(self, chain_id: int, scope: str) -> None:
        self._owner.jobs.pop((chain_id, scope), None)

    def start_job(
        self, chain_id: int, scope: str, start: datetime, end: datetime, step: int, total: int, done: int
    ) -> None:
        row = self._owner.jobs.setdefault((chain_id, scope), {"chain_id": chain_id, "scope": scope})
        row.update(
            window_start=start,
            window_end=end,
            step_seconds=step,
            status="running",
            error=None,
            buckets_total=total,
            buckets_done=done,
        )

    def advance_job(self, chain_id: int, scope: str, done: int) -> None:
        row = self._owner.jobs.get((chain_id, scope))
        if row is not None:
            row["buckets_done"] += done

    def finish_job(self, chain_id: int, scope: str, *, error: str | None = None) -> None:
        row = self._owner.jobs.get((chain_id, scope))
        if row is not None:
            row.update(status="failed" if error else "done", error=error)

    def done_buckets(self, chain_id: int, scope: str, start: datetime, end: datetime) -> set[datetime]:
        return {b for (c, s, b) in self._owner.buckets if (c, s) == (chain_id, scope) and start <= b < end}

    def mark(
        self,
        chain_id: int,
        scope: str,
        bucket: datetime,
        *,
        block: int | None,
        status: str,
        rows: int = 0,
        detail: str | None = None,
    ) -> None:
        self._owner.buckets.setdefault(
            (chain_id, scope, bucket),
            {"block_number": block, "status": status, "detail": detail, "rows_written": rows},
        )

    def has_address_history(self, chain_id: int, address: str) -> bool:
        return any((c, a) == (chain_id, address) for (c, a, _) in self._owner.hours)

    def save_address_hour(
        self,
        chain_id: int,
        address: str,
        bucket: datetime,
        *,
        block: int,
        observed_at: datetime,
        supplied: Decimal,
        borrowed: Decimal,
        health: Decimal | None,
        positions_json: str,
    ) -> None:
        self._owner.hours.setdefault(
            (chain_id, address, bucket),
            {
                "block_number": block,
                "observed_at": observed_at,
                "supplied_usd": supplied,
                "borrowed_usd": borrowed,
                "net_worth_usd": supplied - borrowed,
                "min_health_factor": health,
                "positions": positions_json,
            },
        )


class InMemoryPositionHistory(InMemoryUnitOfWork[InMemoryPositionHistoryRecords]):
    """A `PositionHistoryRepository`: positions jobs, their hours' progress rows, address hours."""

    rolled_back = ("jobs", "buckets", "hours")

    def __init__(self) -> None:
        self.jobs: dict[tuple[int, str], dict[str, Any]] = {}
        self.buckets: dict[tuple[int, str, datetime], dict[str, Any]] = {}
        self.hours: dict[tuple[int, str, datetime], dict[str, Any]] = {}

    def _records(self) -> InMemoryPositionHistoryRecords:
        return InMemoryPositionHistoryRecords(self)
