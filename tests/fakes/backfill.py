"""An in-memory `PositionHistoryRepository` (tidewatch.backfill.repository): jobs by (chain, scope),
buckets by (chain, scope, hour) and address hours by (chain, address, hour), each first write kept
as the tables' ON CONFLICT DO NOTHING keeps it; a unit of work that raises is rolled back."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass
class _Tables:
    jobs: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    buckets: dict[tuple[int, str, datetime], dict[str, Any]] = field(default_factory=dict)
    hours: dict[tuple[int, str, datetime], dict[str, Any]] = field(default_factory=dict)
    started: int = 0


class InMemoryPositionHistoryRecords:
    def __init__(self, tables: _Tables) -> None:
        self.t = tables

    def pending_positions_jobs(self) -> list[dict[str, Any]]:
        running = [
            (
                j["started"],
                {"chain_id": c, "scope": s, "window_start": j["window_start"], "window_end": j["window_end"]},
            )
            for (c, s), j in self.t.jobs.items()
            if s.startswith("positions:") and j["status"] == "running"
        ]
        return [row for _, row in sorted(running, key=lambda r: r[0])]

    def drop_job(self, chain_id: int, scope: str) -> None:
        self.t.jobs.pop((chain_id, scope), None)

    def done_buckets(self, chain_id: int, scope: str, start: datetime, end: datetime) -> set[datetime]:
        return {b for (c, s, b) in self.t.buckets if (c, s) == (chain_id, scope) and start <= b < end}

    def start_job(
        self, chain_id: int, scope: str, start: datetime, end: datetime, step: int, total: int, done: int
    ) -> None:
        job = self.t.jobs.setdefault((chain_id, scope), {"started": self.t.started})
        job.update(
            window_start=start, window_end=end, status="running", error=None, buckets_total=total, buckets_done=done
        )

    def advance_job(self, chain_id: int, scope: str, done: int) -> None:
        job = self.t.jobs.get((chain_id, scope))
        if job is not None:
            job["buckets_done"] = job.get("buckets_done", 0) + done

    def finish_job(self, chain_id: int, scope: str, *, error: str | None = None) -> None:
        job = self.t.jobs.get((chain_id, scope))
        if job is not None:
            job.update(status="failed" if error else "done", error=error)

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
        self.t.buckets.setdefault(
            (chain_id, scope, bucket), {"block_number": block, "status": status, "rows_written": rows, "detail": detail}
        )

    def has_address_history(self, chain_id: int, address: str) -> bool:
        return any((c, a) == (chain_id, address) for (c, a, _) in self.t.hours)

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
        self.t.hours.setdefault(
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


class InMemoryPositionHistory:
    """Positions backfill jobs, their hour buckets and the addresses' stored hours."""

    def __init__(self) -> None:
        self.tables = _Tables()

    def request(self, chain_id: int, scope: str, start: datetime, end: datetime) -> None:
        """A pending job, as `request_positions_job` writes it."""
        self.tables.started += 1
        self.tables.jobs.setdefault(
            (chain_id, scope),
            {
                "window_start": start,
                "window_end": end,
                "status": "running",
                "error": None,
                "started": self.tables.started,
            },
        )

    @contextmanager
    def transaction(self) -> Iterator[InMemoryPositionHistoryRecords]:
        saved = copy.deepcopy(self.tables)
        try:
            yield InMemoryPositionHistoryRecords(self.tables)
        except BaseException:
            self.tables = saved
            raise

    @contextmanager
    def session(self) -> Iterator[InMemoryPositionHistoryRecords]:
        yield InMemoryPositionHistoryRecords(self.tables)
