"""Backfill market history: every discovered market of every chain, one reading per bucket.

For each chain: the window's buckets that no earlier backfill read and where a market lacks its
row (per market: a bucket where the chain's other markets have theirs is still read for the
ones it lacks) are listed, the markets are discovered at the head (the same discovery as
ingest), each
bucket's block is resolved (`BlockIndex`: the first block at or after the bucket's start), the
archive probe reads the oldest of them, then groups of `buckets_per_round` blocks are read with
the adapters' market plans (`execute_at_blocks`: two JSON-RPC round trips per group) and stored
by the ingest writer (`record_snapshots`, same unique keys) for the markets the bucket lacks
only, each bucket committed together with its progress row. A killed run therefore resumes at
the first unrecorded bucket, a re-run writes nothing twice, and a bucket with no block, or with a
market it lacks that cannot be read there, is marked `unfillable` (the detail names the markets).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tidewatch.backfill import repository
from tidewatch.backfill.window import Window
from tidewatch.chain.blocks import BlockIndex
from tidewatch.chain.history import DEFAULT_BATCH, NotArchiveNode, execute_at_blocks, probe_archive
from tidewatch.chain.multicall import DEFAULT_CHUNK_SIZE
from tidewatch.chain.plan import ReadPlan
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.errors import DomainError, InvalidInput
from tidewatch.markets.repository import record_snapshot_rows
from tidewatch.protocols.discovery import DiscoveryCache, discover
from tidewatch.protocols.models import MarketSnapshot
from tidewatch.protocols.reader import market_plan
from tidewatch.protocols.registry import ChainRegistry, Market, Registry

# (chain id, buckets done so far, buckets to do): the CLI draws its progress bar from it.
ProgressFn = Callable[[int, int, int], None]


@dataclass(frozen=True)
class BackfillOptions:
    chunk_size: int = DEFAULT_CHUNK_SIZE
    batch_size: int = DEFAULT_BATCH  # eth_calls per HTTP request
    buckets_per_round: int = 24  # blocks read per pair of round trips
    skip_ingested: bool = True  # buckets ingest already filled are not read again
    # Heal mode: a window reaching before the chain's first block (or past its head) is cut to
    # the chain's history instead of refused, and a refusal is reported per chain, not raised.
    clamp_to_history: bool = False


@dataclass
class ChainBackfill:
    chain_id: int
    buckets: int = 0  # in the window
    already: int = 0  # filled before this run (ingest or an earlier backfill)
    filled: int = 0
    unfillable: int = 0
    rows_written: int = 0
    round_trips: int = 0
    first_block: int | None = None
    last_block: int | None = None
    seconds: float = 0.0
    complete: bool = False
    error: str | None = None
    unfillable_detail: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "unfillable_detail"} | {
            "unfillable_detail": self.unfillable_detail[:10]
        }


def check_history(index: BlockIndex, window: Window) -> None:
    """Refuse (`InvalidInput`) a window that starts before the chain's first block or ends after
    its head: those buckets have no block to read."""
    chain_id = index.client.chain_id
    genesis = index.timestamp(0)
    head, head_ts = index.latest()
    if int(window.start.timestamp()) < genesis:
        first = datetime.fromtimestamp(genesis, tz=UTC)
        raise InvalidInput(
            f"chain {chain_id}: the window starts {window.start.isoformat()} but the chain's history begins "
            f"{first.isoformat()} (block 0); choose a start at or after it",
            errors=[{"field": "start", "message": "before the chain's first block"}],
            chain_id=chain_id,
        )
    last_bucket = window.end - timedelta(seconds=window.step_seconds)
    if int(last_bucket.timestamp()) > head_ts:
        raise InvalidInput(
            f"chain {chain_id}: the window ends {window.end.isoformat()} but the chain head (block {head}) is at "
            f"{datetime.fromtimestamp(head_ts, tz=UTC).isoformat()}: those blocks do not exist yet",
            errors=[{"field": "end", "message": "after the chain head"}],
            chain_id=chain_id,
        )


def clamp(index: BlockIndex, window: Window) -> Window:
    step = window.step_seconds
    genesis = index.timestamp(0)
    _, head_ts = index.latest()
    first = -(-genesis // step) * step  # the first bucket start at or after genesis
    last_end = (head_ts // step) * step + step  # a bucket whose start the head has reached
    start = max(int(window.start.timestamp()), first)
    end = max(start, min(int(window.end.timestamp()), last_end))
    return Window(datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(end, tz=UTC), step)


def backfill_chain(
    database: Database,
    chain: ChainRegistry,
    client: ChainClient,
    window: Window,
    *,
    options: BackfillOptions = BackfillOptions(),
    discovery: DiscoveryCache | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ChainBackfill:
    began = time.monotonic()
    before = client.round_trips
    result = ChainBackfill(chain.chain_id)
    index = BlockIndex(client, batch_size=min(options.batch_size * 2, 200))
    if options.clamp_to_history:
        window = clamp(index, window)
    check_history(index, window)
    buckets = window.buckets()
    result.buckets = len(buckets)
    with database.connection() as conn:
        done = repository.done_buckets(conn, chain.chain_id, repository.MARKETS, window.start, window.end)
        stored = (
            repository.stored_markets(conn, chain.chain_id, window.start, window.end, window.step_seconds)
            if options.skip_ingested
            else {}
        )
    candidates = [b for b in buckets if b not in done]
    # Every market the chain stored in the window should be in each bucket: a bucket is read when
    # any of them lacks its row there, whatever the chain's other markets stored (and only the
    # markets it lacks are written). Deciding this needs no RPC, so a heal with nothing to fill
    # reads nothing.
    expected = set().union(*stored.values()) if stored else set()
    missing: dict[datetime, set[repository.MarketKey] | None] = {}
    for b in candidates:
        have = stored.get(b)
        if have is None:
            missing[b] = None  # nothing stored: every market is written
        elif not expected <= have:
            missing[b] = expected - have
    todo = [b for b in candidates if b in missing]
    result.already = len(buckets) - len(todo)
    with database.transaction() as conn:
        repository.start_job(
            conn,
            chain.chain_id,
            repository.MARKETS,
            window.start,
            window.end,
            window.step_seconds,
            len(buckets),
            result.already,
        )
    if on_progress:
        on_progress(chain.chain_id, 0, len(todo))
    try:
        blocks = index.first_at_or_after([int(b.timestamp()) for b in todo]) if todo else {}
        readable = [
            b for b in todo if index.headers[blocks[int(b.timestamp())]] < int(b.timestamp()) + window.step_seconds
        ]
        if readable:
            probe_archive(client, chain.multicall3, blocks[int(readable[0].timestamp())])
        found = discover(client, chain, discovery or DiscoveryCache(), chunk_size=options.chunk_size) if todo else None
        plans = [(m, market_plan(chain.chain_id, m)) for m in found.chain.markets] if found else []
        n_done = 0
        for i in range(0, len(todo), options.buckets_per_round):
            if should_stop():
                break
            group = todo[i : i + options.buckets_per_round]
            _read_group(database, chain, client, plans, group, blocks, index, window, options, result, missing)
            n_done += len(group)
            if on_progress:
                on_progress(chain.chain_id, n_done, len(todo))
        else:
            result.complete = True
    except DomainError as exc:
        result.error = exc.detail
        with database.transaction() as conn:
            repository.finish_job(conn, chain.chain_id, repository.MARKETS, error=exc.detail)
        raise
    finally:
        result.round_trips = client.round_trips - before
        result.seconds = round(time.monotonic() - began, 3)
    if result.complete:
        with database.transaction() as conn:
            repository.finish_job(conn, chain.chain_id, repository.MARKETS)
    return result


def _read_group(
    database: Database,
    chain: ChainRegistry,
    client: ChainClient,
    plans: Sequence[tuple[Market, ReadPlan[MarketSnapshot]]],
    group: list[datetime],
    blocks: Mapping[int, int],
    index: BlockIndex,
    window: Window,
    options: BackfillOptions,
    result: ChainBackfill,
    missing: Mapping[datetime, set[repository.MarketKey] | None],
) -> None:
    step = window.step_seconds
    targets: dict[datetime, int | None] = {}
    for b in group:
        first = blocks[int(b.timestamp())]
        # No block inside the bucket: nothing was produced then, so nothing can be read for it.
        targets[b] = first if index.headers[first] < int(b.timestamp()) + step else None
    wanted = sorted({n for n in targets.values() if n is not None})
    read = (
        execute_at_blocks(
            client,
            chain.multicall3,
            [p for _, p in plans],
            wanted,
            chunk_size=options.chunk_size,
            batch_size=options.batch_size,
        )
        if wanted
        else []
    )
    by_block = dict(zip(wanted, read, strict=True))
    # Each bucket's snapshots (of the markets it lacks) and unreadable markets, then one write
    # for the whole group in one transaction with the buckets' progress rows.
    readings: list[tuple[datetime, int, list[MarketSnapshot], list[tuple[str, str]]]] = []
    marks: list[repository.Mark] = []
    for b, number in targets.items():
        if number is None:
            detail = f"no block between {b.isoformat()} and +{step} s"
            marks.append(_unfillable(chain.chain_id, b, None, detail, result))
            continue
        _, outcomes = by_block[number]
        lacking = missing.get(b)
        snapshots: list[MarketSnapshot] = []
        failures: list[tuple[str, str]] = []  # (market, error) of the markets the bucket lacks
        for (market, _), outcome in zip(plans, outcomes, strict=True):
            if outcome.value is not None:
                key = (outcome.value.protocol, outcome.value.market_key.lower())
                if lacking is None or key in lacking:
                    snapshots.append(outcome.value)
            elif lacking is None or (market.protocol, market.key.lower()) in lacking:
                failures.append((f"{market.protocol}:{market.key}", outcome.error or "failed"))
        readings.append((b, number, snapshots, failures))
    with database.transaction() as conn:
        rows = [
            (s, datetime.fromtimestamp(by_block[number][0].timestamp, tz=UTC))
            for _, number, snapshots, _ in readings
            for s in snapshots
        ]
        written: dict[int, int] = {}  # block -> rows inserted there
        for _, s in record_snapshot_rows(conn, rows):
            written[s.block_number] = written.get(s.block_number, 0) + 1
        for b, number, snapshots, failures in readings:
            names = ", ".join(f"{label} ({error})" for label, error in failures) or "no market"
            if not snapshots:
                detail = f"no market readable at block {number}: {names}"[:500]
                marks.append(_unfillable(chain.chain_id, b, number, detail, result))
                continue
            inserted = written.get(number, 0)
            result.rows_written += inserted
            result.first_block = min(number, result.first_block if result.first_block is not None else number)
            result.last_block = max(number, result.last_block if result.last_block is not None else number)
            if failures:
                # The markets that stay empty in this bucket: a gap that cannot be filled.
                detail = f"{len(failures)} market(s) not readable at block {number}: {names}"[:500]
                marks.append(_unfillable(chain.chain_id, b, number, detail, result, rows=inserted))
                continue
            marks.append(repository.Mark(b, number, "filled", inserted))
            result.filled += 1
        repository.mark_many(conn, chain.chain_id, repository.MARKETS, marks)
        repository.advance_job(conn, chain.chain_id, repository.MARKETS, len(group))


def _unfillable(
    chain_id: int,
    bucket: datetime,
    block: int | None,
    detail: str,
    result: ChainBackfill,
    *,
    rows: int = 0,
) -> repository.Mark:
    result.unfillable += 1
    result.unfillable_detail.append(detail)
    return repository.Mark(bucket, block, "unfillable", rows, detail)


def backfill_markets(
    database: Database,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    window: Window,
    *,
    options: BackfillOptions = BackfillOptions(),
    discovery: DiscoveryCache | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    chain_ids: set[int] | None = None,
) -> list[ChainBackfill]:
    """Every configured chain (with an RPC URL); a chain that fails is reported, the others run.

    Bad input (a window outside every chain's history) and a non-archive node are raised for the
    first chain they concern, before anything of that chain is stored.
    """
    results = []
    for chain in registry.chains:
        client = clients.get(chain.chain_id)
        if client is None or (chain_ids is not None and chain.chain_id not in chain_ids):
            continue
        try:
            results.append(
                backfill_chain(
                    database,
                    chain,
                    client,
                    window,
                    options=options,
                    discovery=discovery,
                    on_progress=on_progress,
                    should_stop=should_stop,
                )
            )
        except (InvalidInput, NotArchiveNode) as exc:
            if not options.clamp_to_history:
                raise
            results.append(ChainBackfill(chain.chain_id, error=exc.detail))
        except DomainError as exc:  # RPC unavailable for this chain: the next run resumes it
            results.append(ChainBackfill(chain.chain_id, error=exc.detail))
    return results
