"""Run a backfill from a request: clients paced for history, a window, every configured chain.

Both entry points use it: the ingest function (hourly heal schedule, or an explicit request) and
`tidewatch backfill` on the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tidewatch.backfill.markets import BackfillOptions, ChainBackfill, ProgressFn, backfill_markets
from tidewatch.backfill.positions import run_pending
from tidewatch.backfill.settings import BackfillSettings
from tidewatch.backfill.window import HOUR, MAX_DAYS, Window, make_window
from tidewatch.chain.clients import rpc_url_map
from tidewatch.chain.pacing import PacedTransport
from tidewatch.chain.rpc import ChainClient, RetryPolicy
from tidewatch.chain.settings import ChainReadSettings
from tidewatch.db import Database
from tidewatch.protocols.discovery import DiscoveryCache
from tidewatch.protocols.registry import Registry
from tidewatch.settings import ChainSettings


class BackfillRequest(BaseModel):
    """`{"action": "backfill"}` heals the last `heal_hours`; `mode: "window"` takes days or a range."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["backfill"]
    mode: Literal["heal", "window"] = "heal"
    days: float | None = Field(default=None, gt=0, le=MAX_DAYS)
    start: datetime | None = None
    end: datetime | None = None
    chain_ids: list[int] | None = None


class BackfillReport(BaseModel):
    window_start: datetime
    window_end: datetime
    step_seconds: int
    complete: bool
    chains: list[dict[str, object]]
    # Heal runs also read pending address backfills (wallets added to portfolios).
    addresses: list[dict[str, object]] = Field(default_factory=list)


def backfill_clients(
    chain: ChainSettings, read: ChainReadSettings, settings: BackfillSettings
) -> dict[int, ChainClient]:
    """One client per chain whose transport keeps to the requests-per-second budget and waits out
    429s (each chain has its own budget: providers meter per endpoint)."""
    retry = RetryPolicy(rounds=read.rpc_retry_rounds, backoff_seconds=read.rpc_backoff_seconds)
    return {
        chain_id: ChainClient(
            chain_id,
            urls,
            timeout=max(chain.rpc_timeout_seconds, 30.0),  # a batch of historical calls takes longer
            retry=retry,
            transport=PacedTransport(requests_per_second=settings.requests_per_second),
        )
        for chain_id, urls in rpc_url_map(chain).items()
        if urls
    }


def window_of(request: BackfillRequest, settings: BackfillSettings, now: datetime) -> Window:
    if request.mode == "heal":
        return make_window(now=now, days=settings.heal_hours / 24, step_seconds=HOUR)
    return make_window(now=now, days=request.days, start=request.start, end=request.end, step_seconds=HOUR)


def run_backfill(
    request: BackfillRequest,
    *,
    database: Database,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    settings: BackfillSettings,
    now: datetime,
    chunk_size: int = 400,
    discovery: DiscoveryCache | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BackfillReport:
    window = window_of(request, settings, now)
    options = BackfillOptions(
        chunk_size=chunk_size,
        batch_size=settings.batch_size,
        buckets_per_round=settings.buckets_per_round,
        clamp_to_history=request.mode == "heal",
    )
    results: list[ChainBackfill] = backfill_markets(
        database,
        registry,
        clients,
        window,
        options=options,
        discovery=discovery,
        on_progress=on_progress,
        should_stop=should_stop,
        chain_ids=set(request.chain_ids) if request.chain_ids else None,
    )
    addresses = []
    if request.mode == "heal":
        done = run_pending(database, registry, clients, options=options, discovery=discovery, should_stop=should_stop)
        addresses = [a.__dict__ for a in done]
    return BackfillReport(
        addresses=addresses,
        window_start=window.start,
        window_end=window.end,
        step_seconds=window.step_seconds,
        complete=all(r.complete for r in results),
        chains=[r.as_dict() for r in results],
    )
