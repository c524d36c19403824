"""Backfill an address's positions: hourly net worth and health factor from the chain's past.

When an address joins a portfolio, the API records a pending `positions:<address>` job per chain
(`request_history`); the ingest function's heal schedule runs pending jobs (`run_pending`). A job
reads the adapters' position plans (the same plans the positions view uses) at each hour's block
with `execute_at_blocks`, sums the address's positions per chain and hour (supplied, borrowed,
net worth in USD at that hour's oracle prices, lowest health factor) into `address_history`, and
records each hour in `backfill_buckets`, so it is resumable and idempotent like the market backfill.

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
from tidewatch.backfill.repository import PositionHistoryRepository, PostgresPositionHistory
from tidewatch.backfill.window import HOUR, Window, align
from tidewatch.chain.blocks import BlockIndex
from tidewatch.chain.history import execute_at_blocks, probe_archive
from tidewatch.chain.plan import execute
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Connection, Database
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
    conn: Connection, address: str, chain_ids: Sequence[int], now: datetime, days: int = DEFAULT_DAYS
) -> None:
    """Record a pending positions backfill of `address` on each chain (a re-request is a no-op)."""
    end = align(now, HOUR)
    for chain_id in chain_ids:
        repository.request_positions_job(
            conn, chain_id, repository.positions_scope(address), end - timedelta(days=days), end, HOUR
        )


def _totals(positions: Sequence[ChainPosition]) -> tuple[Decimal, Decimal, Decimal | None]:
    supplied = Decimal(0)
    borrowed = Decimal(0)
    for p in positions:
        supplied += sum((t.value_usd or Decimal(0) for t in [*p.supplied, *p.collateral]), Decimal(0))
        borrowed += sum((t.value_usd or Decimal(0) for t in p.borrowed), Decimal(0))
    factors = [p.health_factor for p in positions if p.health_factor is not None]
    return supplied, borrowed, (min(factors) if factors else None)


def _history(database: PositionHistoryRepository | Database) -> PositionHistoryRepository:
    return PostgresPositionHistory(database) if isinstance(database, Database) else database


def backfill_address(
    database: PositionHistoryRepository | Database,
    registry: Registry,
    client: ChainClient,
    address: str,
    window: Window,
    *,
    options: BackfillOptions | None = None,
    discovery: DiscoveryCache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> AddressBackfill:
    history = _history(database)
    options = options or BackfillOptions()
    chain = registry.chain(client.chain_id)
    address = address.lower()
    scope = repository.positions_scope(address)
    found = discover(client, chain, discovery or DiscoveryCache(), chunk_size=options.chunk_size)
    plans = position_plans(found.chain, [address])
    _, now = execute(client, chain.multicall3, plans, chunk_size=options.chunk_size)
    if not any(o.value is not None for o in now):
        with history.transaction() as records:
            records.drop_job(chain.chain_id, scope)
        return AddressBackfill(
            chain.chain_id, address, "no-positions", detail=f"{address} has no position on chain {chain.chain_id}"
        )
    index = BlockIndex(client)
    window = clamp(index, window)
    check_history(index, window)
    buckets = window.buckets()
    with history.session() as records:
        done = records.done_buckets(chain.chain_id, scope, window.start, window.end)
    todo = [b for b in buckets if b not in done]
    result = AddressBackfill(chain.chain_id, address, "running", hours=len(buckets))
    with history.transaction() as records:
        records.start_job(
            chain.chain_id,
            scope,
            window.start,
            window.end,
            window.step_seconds,
            len(buckets),
            len(buckets) - len(todo),
        )
    if not todo:
        result.status = "done"
        with history.transaction() as records:
            records.finish_job(chain.chain_id, scope)
        return result
    with history.session() as records:
        seen = records.has_address_history(chain.chain_id, address)
    blocks = index.first_at_or_after([int(b.timestamp()) for b in todo])
    probe_archive(client, chain.multicall3, blocks[int(todo[0].timestamp())])
    for i in range(0, len(todo), options.buckets_per_round):
        if should_stop():
            return result
        group = todo[i : i + options.buckets_per_round]
        targets = {b: blocks[int(b.timestamp())] for b in group}
        readable = {b: n for b, n in targets.items() if index.headers[n] < int(b.timestamp()) + window.step_seconds}
        wanted = sorted(set(readable.values()))
        read = (
            dict(
                zip(
                    wanted,
                    execute_at_blocks(
                        client,
                        chain.multicall3,
                        plans,
                        wanted,
                        chunk_size=options.chunk_size,
                        batch_size=options.batch_size,
                    ),
                    strict=True,
                )
            )
            if wanted
            else {}
        )
        with history.transaction() as records:
            for b in group:
                number = readable.get(b)
                if number is None:
                    records.mark(
                        chain.chain_id, scope, b, block=None, status="unfillable", detail="no block in this hour"
                    )
                    continue
                ref, outcomes = read[number]
                positions = [o.value for o in outcomes if o.value is not None]
                if not positions and not seen:
                    # Before the address's first position: not history of it, and not a gap.
                    records.mark(chain.chain_id, scope, b, block=number, status="filled", rows=0)
                    continue
                seen = True
                supplied, borrowed, health = _totals(positions)
                records.save_address_hour(
                    chain.chain_id,
                    address,
                    b,
                    block=number,
                    observed_at=datetime.fromtimestamp(ref.timestamp, tz=UTC),
                    supplied=supplied,
                    borrowed=borrowed,
                    health=health,
                    positions_json=json.dumps([p.model_dump(mode="json") for p in positions]),
                )
                records.mark(chain.chain_id, scope, b, block=number, status="filled", rows=1)
                result.filled += 1
            records.advance_job(chain.chain_id, scope, len(group))
    result.status = "done"
    with history.transaction() as records:
        records.finish_job(chain.chain_id, scope)
    return result


def run_pending(
    database: PositionHistoryRepository | Database,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    *,
    options: BackfillOptions | None = None,
    discovery: DiscoveryCache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[AddressBackfill]:
    """Every pending positions job (oldest first) until the time budget runs out."""
    history = _history(database)
    with history.session() as records:
        jobs = records.pending_positions_jobs()
    out = []
    for job in jobs:
        client = clients.get(job["chain_id"])
        if client is None or should_stop():
            continue
        address = str(job["scope"]).removeprefix("positions:")
        window = Window(job["window_start"], job["window_end"], HOUR)
        try:
            out.append(
                backfill_address(
                    history,
                    registry,
                    client,
                    address,
                    window,
                    options=options,
                    discovery=discovery,
                    should_stop=should_stop,
                )
            )
        except DomainError as exc:
            with history.transaction() as records:
                records.finish_job(job["chain_id"], job["scope"], error=exc.detail)
            out.append(AddressBackfill(job["chain_id"], address, "failed", detail=exc.detail))
    return out
