"""Two-phase read plans executed for many items at once in a constant number of round trips.

A `ReadPlan` has an optional `prelude` (calls whose results parametrise the rest, e.g. Comet's
utilization feeding `getSupplyRate(utilization)`), then `main` calls built from the prelude, then a
`build` step. `execute` runs the preludes of ALL plans in one round trip at "latest" (which also
returns that block's number and timestamp), and the main calls of all plans in a second round trip
pinned to the same block. A failing call fails only the plan it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tidewatch.chain.abi import MULTICALL3_BLOCK_NUMBER, MULTICALL3_BLOCK_TIMESTAMP
from tidewatch.chain.multicall import (
    DEFAULT_CHUNK_SIZE,
    BlockRef,
    Call,
    CallResult,
    aggregate,
    aggregate_payload,
    decode_aggregate,
)
from tidewatch.chain.rpc import ChainClient

T = TypeVar("T")


@dataclass
class ReadPlan(Generic[T]):
    key: str
    main: Callable[[list[CallResult]], list[Call]]
    build: Callable[[list[CallResult], list[CallResult], BlockRef], T]
    prelude: list[Call] = field(default_factory=list)


@dataclass(frozen=True)
class PlanOutcome(Generic[T]):
    key: str
    value: T | None = None
    error: str | None = None


def _block_head(multicall: str) -> list[Call]:
    return [Call(multicall, MULTICALL3_BLOCK_NUMBER), Call(multicall, MULTICALL3_BLOCK_TIMESTAMP)]


def _phase_one(
    client: ChainClient, multicall: str, calls: list[Call], chunk_size: int, block: int | str = "latest"
) -> tuple[BlockRef, list[CallResult]]:
    """All prelude calls in one JSON-RPC batch; every chunk starts with the block getters."""
    per_chunk = max(1, chunk_size - 2)
    chunks = [calls[i : i + per_chunk] for i in range(0, len(calls), per_chunk)] or [[]]
    head = _block_head(multicall)
    flat = [c for chunk in chunks for c in head + chunk]
    sizes = [len(head) + len(chunk) for chunk in chunks]
    results = _aggregate_sized(client, multicall, flat, sizes, block)
    blocks, values, i = set(), [], 0
    for size in sizes:
        part = results[i : i + size]
        blocks.add((part[0].one(), part[1].one()))
        values.extend(part[2:])
        i += size
    if len(blocks) > 1:  # a new block landed between chunks: redo pinned at the newest
        newest = max(number for number, _ in blocks)
        return _phase_one(client, multicall, calls, chunk_size, block=newest)
    number, timestamp = blocks.pop()
    return BlockRef(number, timestamp), values


def _aggregate_sized(
    client: ChainClient, multicall: str, calls: list[Call], sizes: list[int], block: int | str
) -> list[CallResult]:
    # Chunks of exact sizes in one batch: aggregate() with chunk_size=max(sizes) would regroup.
    chunks, i = [], 0
    for size in sizes:
        chunks.append(calls[i : i + size])
        i += size
    raws = client.batch([aggregate_payload(multicall, chunk, block) for chunk in chunks])
    out: list[CallResult] = []
    for chunk, raw in zip(chunks, raws, strict=True):
        out.extend(decode_aggregate(chunk, raw))
    return out


def execute(
    client: ChainClient,
    multicall: str,
    plans: Sequence[ReadPlan[T]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[BlockRef, list[PlanOutcome[T]]]:
    """Run every plan: 2 round trips in total, whatever the number of plans."""
    prelude_calls = [c for p in plans for c in p.prelude]
    block, prelude_results = _phase_one(client, multicall, prelude_calls, chunk_size)

    preludes: list[list[CallResult]] = []
    i = 0
    for p in plans:
        preludes.append(prelude_results[i : i + len(p.prelude)])
        i += len(p.prelude)

    mains: list[list[Call] | None] = []
    errors: dict[int, str] = {}
    for n, (p, pre) in enumerate(zip(plans, preludes, strict=True)):
        try:
            mains.append(p.main(pre))
        except Exception as exc:  # a failed prelude call: this plan only
            errors[n] = _describe(exc)
            mains.append(None)

    main_calls = [c for m in mains if m for c in m]
    main_results = aggregate(client, multicall, main_calls, block=block.number, chunk_size=chunk_size)

    outcomes: list[PlanOutcome[T]] = []
    i = 0
    for n, (p, pre, m) in enumerate(zip(plans, preludes, mains, strict=True)):
        if m is None:
            outcomes.append(PlanOutcome(p.key, error=errors[n]))
            continue
        results = main_results[i : i + len(m)]
        i += len(m)
        try:
            outcomes.append(PlanOutcome(p.key, value=p.build(pre, results, block)))
        except Exception as exc:
            outcomes.append(PlanOutcome(p.key, error=_describe(exc)))
    return block, outcomes


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def no_prelude(calls: list[Call]) -> Callable[[list[CallResult]], list[Call]]:
    return lambda _pre: calls


def values(results: list[CallResult]) -> list[Any]:
    return [r.one() for r in results]
