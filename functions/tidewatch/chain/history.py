"""Read plans at many past blocks, in two round trips per group of blocks.

`execute_at_blocks` is `tidewatch.chain.plan.execute` for history: the same `ReadPlan`s (the
adapters' market and position plans), run at each of the given block numbers. Phase one sends the
preludes of every plan at every block (each block's first chunk carrying Multicall3's block
getters, so each result knows its block's timestamp) as JSON-RPC batches of at most `batch_size`
`eth_call`s per HTTP request; phase two sends the main calls the same way. A day of hourly history
for one chain is thus two HTTP requests when `batch_size` ≥ 24 × chunks per block.

A node that has pruned the state of a block answers with an error ("missing trie node", "state
not available", …): that is raised as `NotArchiveNode`, naming the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from tidewatch.chain.abi import MULTICALL3_BLOCK_NUMBER, MULTICALL3_BLOCK_TIMESTAMP
from tidewatch.chain.multicall import (
    DEFAULT_CHUNK_SIZE,
    BlockRef,
    Call,
    CallResult,
    aggregate_data,
    aggregate_payload,
    decode_aggregate,
)
from tidewatch.chain.plan import PlanOutcome, ReadPlan
from tidewatch.chain.rpc import ChainClient, RpcError
from tidewatch.errors import DomainError

T = TypeVar("T")

DEFAULT_BATCH = 50  # eth_calls per HTTP request (each one aggregate3 of up to `chunk_size` calls)
MAX_REQUEST_BYTES = 1_000_000  # hex calldata per HTTP request: far below providers' body limits

# What nodes say when they no longer hold a block's state (geth, erigon, nethermind, reth,
# anvil --prune-history and hosted providers' wording).
_PRUNED_HINTS = (
    "missing trie node",
    "state not available",
    "state is not available",
    "not available",
    "pruned",
    "historical state",
    "header not found",
    "state histories haven't been fully indexed",
    "required historical state unavailable",
    "archive",
    "unknown block",
    "blockoutofrange",  # anvil --prune-history: "block height is N but requested was M"
)


class NotArchiveNode(DomainError):
    """The RPC no longer holds the state of a past block: history needs an archive node."""

    type_slug = "not-archive-node"
    title = "RPC is not an archive node"
    status = 422

    def __init__(self, chain_id: int, block: int, node_said: str) -> None:
        super().__init__(
            f"chain {chain_id}: the RPC cannot read state at block {block} ({node_said}); "
            "a backfill needs an archive node (configure one in TIDEWATCH_RPC_URLS)",
            chain_id=chain_id,
            block=block,
        )
        self.chain_id = chain_id
        self.block = block


def is_pruned_state_error(message: str) -> bool:
    lowered = message.lower()
    return any(hint in lowered for hint in _PRUNED_HINTS)


def probe_archive(client: ChainClient, multicall: str, block: int) -> None:
    """Raise `NotArchiveNode` unless the node executes a call against `block`'s state."""
    try:
        client.batch([aggregate_payload(multicall, [Call(multicall, MULTICALL3_BLOCK_NUMBER)], block)] * 2)
    except RpcError as exc:
        raise NotArchiveNode(client.chain_id, block, _said(exc)) from exc


def _said(exc: RpcError) -> str:
    return str(exc.detail).split("failed: ", 1)[-1][:200]


def _head(multicall: str) -> list[Call]:
    return [Call(multicall, MULTICALL3_BLOCK_NUMBER), Call(multicall, MULTICALL3_BLOCK_TIMESTAMP)]


def _chunks(calls: list[Call], size: int) -> list[list[Call]]:
    return [calls[i : i + size] for i in range(0, len(calls), size)]


def _run(
    client: ChainClient, multicall: str, jobs: list[tuple[int, list[Call]]], batch_size: int
) -> list[list[CallResult]]:
    """Each job is (block, one aggregate3 chunk); batched `batch_size` per HTTP request."""
    out: list[list[CallResult]] = []
    # The prelude chunks are the same list at every block: their calldata is encoded once.
    encoded: dict[int, str] = {}
    for _block, calls in jobs:
        if id(calls) not in encoded:
            encoded[id(calls)] = aggregate_data(calls)
    for part in _requests(jobs, encoded, batch_size):
        try:
            raws = client.batch(
                [aggregate_payload(multicall, calls, block, data=encoded[id(calls)]) for block, calls in part]
            )
        except RpcError as exc:
            if is_pruned_state_error(str(exc.detail)):
                raise NotArchiveNode(client.chain_id, min(b for b, _ in part), _said(exc)) from exc
            raise
        for (block, calls), raw in zip(part, raws, strict=True):
            try:
                out.append(decode_aggregate(calls, raw))
            except Exception:  # empty answer: Multicall3 had no code yet at that block
                error = f"no Multicall3 at block {block}"
                out.append([CallResult(False, error=error) for _ in calls])
    return out


def _requests(
    jobs: list[tuple[int, list[Call]]], encoded: dict[int, str], batch_size: int
) -> list[list[tuple[int, list[Call]]]]:
    """Consecutive jobs, at most `batch_size` per HTTP request and at most `MAX_REQUEST_BYTES` of
    calldata (at least one job each): nodes refuse larger bodies (anvil drops the connection)."""
    parts: list[list[tuple[int, list[Call]]]] = []
    current: list[tuple[int, list[Call]]] = []
    size = 0
    for job in jobs:
        length = len(encoded[id(job[1])])
        if current and (len(current) >= batch_size or size + length > MAX_REQUEST_BYTES):
            parts.append(current)
            current, size = [], 0
        current.append(job)
        size += length
    if current:
        parts.append(current)
    return parts


def execute_at_blocks(
    client: ChainClient,
    multicall: str,
    plans: Sequence[ReadPlan[T]],
    blocks: Sequence[int],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int = DEFAULT_BATCH,
) -> list[tuple[BlockRef, list[PlanOutcome[T]]]]:
    """Every plan at every block: 2 × ceil(eth_calls / batch_size) HTTP requests."""
    prelude = [c for p in plans for c in p.prelude]
    per_chunk = max(1, chunk_size - 2)
    prelude_chunks = _chunks(prelude, per_chunk) or [[]]
    prelude_calls = [_head(multicall) + chunk for chunk in prelude_chunks]
    jobs: list[tuple[int, list[Call]]] = []
    for block in blocks:
        jobs.extend((block, calls) for calls in prelude_calls)
    results = _run(client, multicall, jobs, batch_size)

    refs: list[BlockRef] = []
    mains: list[list[list[Call] | None]] = []
    preludes_at: list[list[list[CallResult]]] = []
    errors: list[dict[int, str]] = []
    main_jobs: list[tuple[int, list[Call]]] = []
    main_sizes: list[int] = []
    for n, block in enumerate(blocks):
        parts = results[n * len(prelude_chunks) : (n + 1) * len(prelude_chunks)]
        if not parts[0][0].ok:  # before Multicall3 existed: nothing is readable at this block
            refs.append(BlockRef(block, 0))
            preludes_at.append([[] for _ in plans])
            mains.append([None for _ in plans])
            errors.append(dict.fromkeys(range(len(plans)), parts[0][0].error or "unreadable block"))
            main_sizes.append(0)
            continue
        refs.append(BlockRef(parts[0][0].one(), parts[0][1].one()))
        flat = [r for part in parts for r in part[2:]]
        per_plan: list[list[CallResult]] = []
        i = 0
        for p in plans:
            per_plan.append(flat[i : i + len(p.prelude)])
            i += len(p.prelude)
        preludes_at.append(per_plan)
        block_mains: list[list[Call] | None] = []
        block_errors: dict[int, str] = {}
        for k, (p, pre) in enumerate(zip(plans, per_plan, strict=True)):
            try:
                block_mains.append(p.main(pre))
            except Exception as exc:  # a failed prelude call (market not listed yet): this plan only
                block_errors[k] = _describe(exc)
                block_mains.append(None)
        mains.append(block_mains)
        errors.append(block_errors)
        calls = [c for m in block_mains if m for c in m]
        chunks = _chunks(calls, chunk_size)
        main_jobs.extend((block, chunk) for chunk in chunks)
        main_sizes.append(len(chunks))
    main_results = _run(client, multicall, main_jobs, batch_size)

    out: list[tuple[BlockRef, list[PlanOutcome[T]]]] = []
    j = 0
    for n, ref in enumerate(refs):
        flat_main = [r for part in main_results[j : j + main_sizes[n]] for r in part]
        j += main_sizes[n]
        outcomes: list[PlanOutcome[T]] = []
        i = 0
        for k, (p, pre, m) in enumerate(zip(plans, preludes_at[n], mains[n], strict=True)):
            if m is None:
                outcomes.append(PlanOutcome(p.key, error=errors[n][k]))
                continue
            got = flat_main[i : i + len(m)]
            i += len(m)
            try:
                outcomes.append(PlanOutcome(p.key, value=p.build(pre, got, ref)))
            except Exception as exc:
                outcomes.append(PlanOutcome(p.key, error=_describe(exc)))
        out.append((ref, outcomes))
    return out


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
