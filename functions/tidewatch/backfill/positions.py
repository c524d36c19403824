"""Backfill an address's positions: hourly net worth and health factor from the chain's past.

When an address joins a portfolio, the API records a pending `positions:<address>` job per chain
(`request_history`); the ingest function's heal schedule runs pending jobs (`run_pending`). A job
reads the adapters' position plans (the same plans the positions view uses) at each hour's block
with `execute_at_blocks` (a chain's pending addresses together: each block is read once for all
of them), sums the address's positions per chain and hour (supplied, borrowed, net worth in USD
at that hour's oracle prices, lowest health factor) into `address_history`, and records each
hour in `backfill_buckets`, so it is resumable and idempotent like the market backfill.

The jobs, progress rows and address hours are read and written over a `PositionHistoryRepository`
(tidewatch.backfill.repository); each function also accepts a `Database` and wraps it in the
Postgres adapter, so the bookkeeping runs in unit tests over the in-memory one in tests/fakes.

An address with no position on the chain now is answered "no positions" and nothing is stored;
hours before an address's first position are not stored either (its history begins there).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tidewatch.backfill import repository
from tidewatch.backfill.markets import BackfillOptions, check_history, clamp
from tidewatch.backfill.repository import PositionHistoryRepository, position_history
from tidewatch.backfill.window import HOUR, Window, align
from tidewatch.chain.blocks import BlockIndex
from tidewatch.chain.history import execute_at_blocks, probe_archive
from tidewatch.chain.plan import ReadPlan, execute
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.errors import DomainError
from tidewatch.protocols.discovery import DiscoveryCache, discover
from tidewatch.protocols.models import ChainPosition
from tidewatch.protocols.reader import position_plans
from tidewatch.protocols.registry import Registry

DEFAULT_DAYS = 30


@dataclass
class AddressBackfill:
    chain_id: int
    address: str
    status: str  # "done", "running" (stopped by its time budget), "no-positions", "failed"
    hours: int = 0
    filled: int = 0
    detail: str | None = None


def request_history(
    history: PositionHistoryRepository | Database,
    address: str,
    chain_ids: Sequence[int],
    now: datetime,
    days: int = DEFAULT_DAYS,
) -> None:
    """Record a pending positions backfill of `address` on each chain, in one transaction (a
    re-request is a no-op)."""
    end = align(now, HOUR)
    with position_history(history).transaction() as records:
        for chain_id in chain_ids:
            records.request_positions_job(
                chain_id, repository.positions_scope(address), end - timedelta(days=days), end, HOUR
            )


def _totals(positions: Sequence[ChainPosition]) -> tuple[Decimal, Decimal, Decimal | None]:
    supplied = Decimal(0)
    borrowed = Decimal(0)
    for p in positions:
        supplied += sum((t.value_usd or Decimal(0) for t in [*p.supplied, *p.collateral]), Decimal(0))
        borrowed += sum((t.value_usd or Decimal(0) for t in p.borrowed), Decimal(0))
    factors = [p.health_factor for p in positions if p.health_factor is not None]
    return supplied, borrowed, (min(factors) if factors else None)


def backfill_address(
    history: PositionHistoryRepository | Database,
    registry: Registry,
    client: ChainClient,
    address: str,
    window: Window,
    *,
    options: BackfillOptions | None = None,
    discovery: DiscoveryCache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    index: BlockIndex | None = None,
) -> AddressBackfill:
    """One address's positions history on `client`'s chain over `window`."""
    (result,) = backfill_addresses(
        history,
        registry,
        client,
        [address],
        window,
        options=options,
        discovery=discovery,
        should_stop=should_stop,
        index=index,
    )
    return result


@dataclass
class _Job:
    """One address of a multi-address run: its plans' place in the read, and its progress."""

    address: str
    scope: str
    first: int  # index of its first plan among the run's plans
    count: int
    result: AddressBackfill
    todo: set[datetime]
    seen: bool = False


def backfill_addresses(
    history: PositionHistoryRepository | Database,
    registry: Registry,
    client: ChainClient,
    addresses: Sequence[str],
    window: Window,
    *,
    options: BackfillOptions | None = None,
    discovery: DiscoveryCache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    index: BlockIndex | None = None,
) -> list[AddressBackfill]:
    """Several addresses' positions histories on one chain over the same `window`, read together:
    every address's position plans run at each hour's block in the same Multicall3 batches, so a
    run with N addresses reads each block once, not N times. Each address keeps its own job,
    progress rows and answer (results in the order of `addresses`). `index`: the chain's block
    index, shared by the jobs of one run (headers are read once)."""
    options = options or BackfillOptions()
    store = position_history(history)
    chain = registry.chain(client.chain_id)
    found = discover(client, chain, discovery or DiscoveryCache(), chunk_size=options.chunk_size)
    plans: list[ReadPlan[ChainPosition | None]] = []
    jobs: list[_Job] = []
    for address in dict.fromkeys(a.lower() for a in addresses):
        own = position_plans(found.chain, [address])
        result = AddressBackfill(chain.chain_id, address, "running")
        jobs.append(_Job(address, repository.positions_scope(address), len(plans), len(own), result, set()))
        plans.extend(own)
    _, now = execute(client, chain.multicall3, plans, chunk_size=options.chunk_size)
    active: list[_Job] = []
    for job in jobs:
        if any(o.value is not None for o in now[job.first : job.first + job.count]):
            active.append(job)
            continue
        with store.transaction() as records:
            records.drop_job(chain.chain_id, job.scope)
        job.result.status = "no-positions"
        job.result.detail = f"{job.address} has no position on chain {chain.chain_id}"
    results = {job.address: job.result for job in jobs}
    ordered = [results[a.lower()] for a in addresses]
    if not active:
        return ordered
    index = index or BlockIndex(client)
    window = clamp(index, window)
    check_history(index, window)
    buckets = window.buckets()
    for job in active:
        with store.session() as records:
            done = records.done_buckets(chain.chain_id, job.scope, window.start, window.end)
            job.seen = records.has_address_history(chain.chain_id, job.address)
        job.todo = {b for b in buckets if b not in done}
        job.result.hours = len(buckets)
        with store.transaction() as records:
            records.start_job(
                chain.chain_id,
                job.scope,
                window.start,
                window.end,
                window.step_seconds,
                len(buckets),
                len(buckets) - len(job.todo),
            )
    todo = [b for b in buckets if any(b in job.todo for job in active)]
    if todo:
        blocks = index.first_at_or_after([int(b.timestamp()) for b in todo])
        probe_archive(client, chain.multicall3, blocks[int(todo[0].timestamp())])
        reading = [job for job in active if job.todo]
        for i in range(0, len(todo), options.buckets_per_round):
            if should_stop():
                return ordered
            group = todo[i : i + options.buckets_per_round]
            _read_positions_group(
                store,
                chain.chain_id,
                client,
                chain.multicall3,
                plans,
                reading,
                group,
                blocks,
                index,
                window,
                options,
            )
    for job in active:
        job.result.status = "done"
        with store.transaction() as records:
            records.finish_job(chain.chain_id, job.scope)
    return ordered


def _read_positions_group(
    store: PositionHistoryRepository,
    chain_id: int,
    client: ChainClient,
    multicall: str,
    plans: Sequence[ReadPlan[ChainPosition | None]],
    jobs: Sequence[_Job],
    group: Sequence[datetime],
    blocks: Mapping[int, int],
    index: BlockIndex,
    window: Window,
    options: BackfillOptions,
) -> None:
    targets = {b: blocks[int(b.timestamp())] for b in group}
    readable = {b: n for b, n in targets.items() if index.headers[n] < int(b.timestamp()) + window.step_seconds}
    wanted = sorted(set(readable.values()))
    read = (
        dict(
            zip(
                wanted,
                execute_at_blocks(
                    client, multicall, plans, wanted, chunk_size=options.chunk_size, batch_size=options.batch_size
                ),
                strict=True,
            )
        )
        if wanted
        else {}
    )
    with store.transaction() as records:
        for job in jobs:
            mine = [b for b in group if b in job.todo]
            for b in mine:
                number = readable.get(b)
                if number is None:
                    records.mark(
                        chain_id, job.scope, b, block=None, status="unfillable", detail="no block in this hour"
                    )
                    continue
                ref, outcomes = read[number]
                positions = [o.value for o in outcomes[job.first : job.first + job.count] if o.value is not None]
                if not positions and not job.seen:
                    # Before the address's first position: not history of it, and not a gap.
                    records.mark(chain_id, job.scope, b, block=number, status="filled", rows=0)
                    continue
                job.seen = True
                supplied, borrowed, health = _totals(positions)
                records.save_address_hour(
                    chain_id,
                    job.address,
                    b,
                    block=number,
                    observed_at=datetime.fromtimestamp(ref.timestamp, tz=UTC),
                    supplied=supplied,
                    borrowed=borrowed,
                    health=health,
                    positions_json=json.dumps([p.model_dump(mode="json") for p in positions]),
                )
                records.mark(chain_id, job.scope, b, block=number, status="filled", rows=1)
                job.result.filled += 1
            if mine:
                records.advance_job(chain_id, job.scope, len(mine))


def run_pending(
    history: PositionHistoryRepository | Database,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    *,
    options: BackfillOptions | None = None,
    discovery: DiscoveryCache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[AddressBackfill]:
    """Every pending positions job (oldest first) until the time budget runs out. A job on a chain
    without a client stays pending; a chain's jobs that raise a `DomainError` are marked failed
    with its detail as their reason."""
    store = position_history(history)
    with store.session() as records:
        jobs = records.pending_positions_jobs()
    out: list[AddressBackfill] = []
    # The jobs of one chain and window are read together (each block once for all their
    # addresses), with one discovery and one block index per chain.
    discovery = discovery or DiscoveryCache()
    indexes: dict[int, BlockIndex] = {}
    groups: dict[tuple[int, datetime, datetime], list[str]] = {}
    for job in jobs:
        key = (int(job["chain_id"]), job["window_start"], job["window_end"])
        groups.setdefault(key, []).append(str(job["scope"]).removeprefix("positions:"))
    for (chain_id, start, end), addresses in groups.items():
        client = clients.get(chain_id)
        if client is None or should_stop():
            continue
        try:
            out.extend(
                backfill_addresses(
                    store,
                    registry,
                    client,
                    addresses,
                    Window(start, end, HOUR),
                    options=options,
                    discovery=discovery,
                    should_stop=should_stop,
                    index=indexes.setdefault(chain_id, BlockIndex(client)),
                )
            )
        except DomainError as exc:
            with store.transaction() as records:
                for address in addresses:
                    records.finish_job(chain_id, repository.positions_scope(address), error=exc.detail)
            out.extend(AddressBackfill(chain_id, address, "failed", detail=exc.detail) for address in addresses)
    return out
