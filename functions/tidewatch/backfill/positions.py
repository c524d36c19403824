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
        conn.execute(
            """
            INSERT INTO backfill_jobs (chain_id, scope, window_start, window_end, step_seconds, status)
            VALUES (%s, %s, %s, %s, %s, 'running') ON CONFLICT (chain_id, scope) DO NOTHING
            """,
            (chain_id, repository.positions_scope(address), end - timedelta(days=days), end, HOUR),
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
    database: Database,
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
    """`index`: the chain's block index, shared by the jobs of one run (headers are read once)."""
    options = options or BackfillOptions()
    chain = registry.chain(client.chain_id)
    address = address.lower()
    scope = repository.positions_scope(address)
    found = discover(client, chain, discovery or DiscoveryCache(), chunk_size=options.chunk_size)
    plans = position_plans(found.chain, [address])
    _, now = execute(client, chain.multicall3, plans, chunk_size=options.chunk_size)
    if not any(o.value is not None for o in now):
        with database.transaction() as conn:
            conn.execute("DELETE FROM backfill_jobs WHERE chain_id = %s AND scope = %s", (chain.chain_id, scope))
        return AddressBackfill(
            chain.chain_id, address, "no-positions", detail=f"{address} has no position on chain {chain.chain_id}"
        )
    index = index or BlockIndex(client)
    window = clamp(index, window)
    check_history(index, window)
    buckets = window.buckets()
    with database.connection() as conn:
        done = repository.done_buckets(conn, chain.chain_id, scope, window.start, window.end)
    todo = [b for b in buckets if b not in done]
    result = AddressBackfill(chain.chain_id, address, "running", hours=len(buckets))
    with database.transaction() as conn:
        repository.start_job(
            conn,
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
        with database.transaction() as conn:
            repository.finish_job(conn, chain.chain_id, scope)
        return result
    with database.connection() as conn:
        seen = (
            conn.execute(
                "SELECT 1 FROM address_history WHERE chain_id = %s AND address = %s LIMIT 1", (chain.chain_id, address)
            ).fetchone()
            is not None
        )
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
        with database.transaction() as conn:
            for b in group:
                number = readable.get(b)
                if number is None:
                    repository.mark(
                        conn, chain.chain_id, scope, b, block=None, status="unfillable", detail="no block in this hour"
                    )
                    continue
                ref, outcomes = read[number]
                positions = [o.value for o in outcomes if o.value is not None]
                if not positions and not seen:
                    # Before the address's first position: not history of it, and not a gap.
                    repository.mark(conn, chain.chain_id, scope, b, block=number, status="filled", rows=0)
                    continue
                seen = True
                supplied, borrowed, health = _totals(positions)
                conn.execute(
                    """
                    INSERT INTO address_history (chain_id, address, bucket_start, block_number, observed_at, supplied_usd,
                                                 borrowed_usd, net_worth_usd, min_health_factor, positions)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING
                    """,
                    (
                        chain.chain_id,
                        address,
                        b,
                        number,
                        datetime.fromtimestamp(ref.timestamp, tz=UTC),
                        supplied,
                        borrowed,
                        supplied - borrowed,
                        health,
                        json.dumps([p.model_dump(mode="json") for p in positions]),
                    ),
                )
                repository.mark(conn, chain.chain_id, scope, b, block=number, status="filled", rows=1)
                result.filled += 1
            repository.advance_job(conn, chain.chain_id, scope, len(group))
    result.status = "done"
    with database.transaction() as conn:
        repository.finish_job(conn, chain.chain_id, scope)
    return result


def run_pending(
    database: Database,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    *,
    options: BackfillOptions | None = None,
    discovery: DiscoveryCache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[AddressBackfill]:
    """Every pending positions job (oldest first) until the time budget runs out."""
    with database.connection() as conn:
        jobs = conn.execute(
            "SELECT chain_id, scope, window_start, window_end FROM backfill_jobs"
            " WHERE scope LIKE 'positions:%%' AND status = 'running' ORDER BY started_at"
        ).fetchall()
    out = []
    # One discovery and one block index per chain for all the run's jobs: each address of a
    # chain is read at the same hourly blocks.
    discovery = discovery or DiscoveryCache()
    indexes: dict[int, BlockIndex] = {}
    for job in jobs:
        client = clients.get(job["chain_id"])
        if client is None or should_stop():
            continue
        address = str(job["scope"]).removeprefix("positions:")
        window = Window(job["window_start"], job["window_end"], HOUR)
        try:
            out.append(
                backfill_address(
                    database,
                    registry,
                    client,
                    address,
                    window,
                    options=options,
                    discovery=discovery,
                    should_stop=should_stop,
                    index=indexes.setdefault(client.chain_id, BlockIndex(client)),
                )
            )
        except DomainError as exc:
            with database.transaction() as conn:
                repository.finish_job(conn, job["chain_id"], job["scope"], error=exc.detail)
            out.append(AddressBackfill(job["chain_id"], address, "failed", detail=exc.detail))
    return out
