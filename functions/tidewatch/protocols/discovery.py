"""Markets discovered on chain from the registry's roots, cached, refreshed when they change.

`discover(client, chain, cache)` runs the adapters' discovery plans for every root whose cached
discovery is missing or older than the cache's TTL (all roots of a chain in the same two
round trips) and returns the chain with its markets: discovered ones, plus listed ones no root
covers. `read_markets_discovered` reads every market of that chain and, in the same first round
trip, each root's *fingerprint* (Aave: `getReservesList`): when a fingerprint differs from the
cached one (a reserve was listed or dropped), that root is rediscovered and its new markets are
read at once. So a tick on a warm cache costs the two round trips of the market read; a change
costs two more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidewatch.chain.multicall import DEFAULT_CHUNK_SIZE, BlockRef, CallResult
from tidewatch.chain.plan import PlanOutcome, ReadPlan, execute
from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.adapter import Discovery
from tidewatch.protocols.adapters import adapter_for
from tidewatch.protocols.models import MarketFailure, MarketSnapshot
from tidewatch.protocols.reader import ChainMarkets, PositionsAtBlock, market_plan, position_plans, read_positions
from tidewatch.protocols.registry import ChainRegistry, Market, Root

RootKey = tuple[int, str, str]  # chain id, protocol, instance
DEFAULT_TTL_SECONDS = 6 * 3600.0


def root_key(chain_id: int, root: Root) -> RootKey:
    return (chain_id, root.protocol, root.instance)


@dataclass
class _Entry:
    discovery: Discovery
    fingerprint: tuple[Any, ...]
    fetched_at: float


@dataclass
class DiscoveryCache:
    """Discoveries per (chain, protocol, instance), kept for `ttl_seconds` (a warm Lambda
    container keeps them between ticks; a cold one rediscovers in two round trips)."""

    ttl_seconds: float = DEFAULT_TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    entries: dict[RootKey, _Entry] = field(default_factory=dict)

    def fresh(self, key: RootKey) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None or self.clock() - entry.fetched_at > self.ttl_seconds:
            return None
        return entry

    def invalidate(self, key: RootKey) -> None:
        self.entries.pop(key, None)


@dataclass(frozen=True)
class DiscoveredChain:
    chain: ChainRegistry  # with `markets` = discovered + listed markets no root covers
    failures: list[MarketFailure]  # reserves found but unreadable (odd token metadata, reverts)
    discovered: list[RootKey]  # roots (re)discovered by this call
    instances: dict[RootKey, dict[str, Any]]  # per-root facts (e.g. Aave eMode categories)


def _fingerprint_plan(key: str, root: Root) -> ReadPlan[tuple[Any, ...]]:
    calls = adapter_for(root.protocol).fingerprint_calls(root)

    def build(pre: list[CallResult], _r: list[CallResult], _b: BlockRef) -> tuple[Any, ...]:
        return _norm(tuple(x.all() for x in pre))

    return ReadPlan(key, lambda _pre: [], build, calls)


def _discovery_plan(chain_id: int, root: Root) -> ReadPlan[Discovery] | None:
    return adapter_for(root.protocol).discovery_plan(chain_id, root)


def _norm(value: Any) -> Any:
    """Comparable form of decoded results: tuples all the way down, addresses lower-case."""
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value.lower() if isinstance(value, str) else value


def _fingerprint_of(d: Discovery) -> tuple[Any, ...]:
    # The fingerprint calls' results as the discovery saw them: `instance["fingerprint"]`, the
    # decoded results of the adapter's fingerprint calls, in order (Aave: the reserves list).
    result: tuple[Any, ...] = _norm(d.instance.get("fingerprint", ()))
    return result


def _merge(chain: ChainRegistry, discoveries: Sequence[Discovery]) -> ChainRegistry:
    found: list[Market] = [m for d in discoveries for m in d.markets]
    seen = {(m.protocol, m.key.lower()) for m in found}
    listed = [m for m in chain.markets if (m.protocol, m.key.lower()) not in seen]
    return chain.with_markets(tuple(found + listed))


def discover(
    client: ChainClient,
    chain: ChainRegistry,
    cache: DiscoveryCache,
    *,
    force: Sequence[RootKey] = (),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> DiscoveredChain:
    """The chain's markets from its roots: cached discoveries, the others read now (2 round trips)."""
    due: list[tuple[Root, ReadPlan[Discovery]]] = []
    for root in chain.roots:
        key = root_key(chain.chain_id, root)
        plan = _discovery_plan(chain.chain_id, root)
        if plan is not None and (key in force or cache.fresh(key) is None):
            due.append((root, plan))
    failures: list[MarketFailure] = []
    discovered: list[RootKey] = []
    if due:
        _, outcomes = execute(client, chain.multicall3, [p for _, p in due], chunk_size=chunk_size)
        for (root, _plan), outcome in zip(due, outcomes, strict=True):
            key = root_key(chain.chain_id, root)
            if outcome.value is None:
                # The root itself is unreadable: keep the last discovery if any, report it.
                failures.append(
                    MarketFailure(
                        chain_id=chain.chain_id,
                        protocol=root.protocol,
                        market_key=f"{root.instance}:{next(iter(root.contracts.values()), '')}",
                        error=f"discovery failed: {outcome.error}",
                    )
                )
                continue
            cache.entries[key] = _Entry(outcome.value, _fingerprint_of(outcome.value), cache.clock())
            discovered.append(key)
    discoveries, instances = [], {}
    for root in chain.roots:
        key = root_key(chain.chain_id, root)
        entry = cache.entries.get(key)
        if entry is not None:
            discoveries.append(entry.discovery)
            instances[key] = entry.discovery.instance
            if key in discovered:
                failures.extend(entry.discovery.failures)
    return DiscoveredChain(_merge(chain, discoveries), failures, discovered, instances)


def read_markets_discovered(
    client: ChainClient,
    chain: ChainRegistry,
    cache: DiscoveryCache,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[ChainMarkets, DiscoveredChain]:
    """Every market of every root (and every listed market) at one block, discovery included."""
    found = discover(client, chain, cache, chunk_size=chunk_size)
    read = _read(client, found.chain, chunk_size, checks=_checks(chain, cache, found))
    snapshots, failures, block = read.snapshots, list(found.failures) + read.failures, read.block
    if read.changed:
        before = {(m.protocol, m.key.lower()) for m in found.chain.markets}
        found = discover(client, chain, cache, force=read.changed, chunk_size=chunk_size)
        failures += found.failures
        new = [m for m in found.chain.markets if (m.protocol, m.key.lower()) not in before]
        if new:
            extra = _read(client, found.chain.with_markets(tuple(new)), chunk_size)
            snapshots, failures, block = snapshots + extra.snapshots, failures + extra.failures, extra.block
        # Markets a root dropped are no longer reported.
        keep = {(m.protocol, m.key.lower()) for m in found.chain.markets}
        snapshots = [s for s in snapshots if (s.protocol, s.market_key.lower()) in keep]
    return ChainMarkets(chain.chain_id, block, snapshots, failures), found


def read_positions_discovered(
    client: ChainClient,
    chain: ChainRegistry,
    cache: DiscoveryCache,
    addresses: Sequence[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> PositionsAtBlock:
    """Positions of `addresses` in every market of every root, with the same fingerprint check
    as `read_markets_discovered`: a reserve listed since the cached discovery is read at once."""
    found = discover(client, chain, cache, chunk_size=chunk_size)
    checks = _checks(chain, cache, found)
    plans: list[ReadPlan[Any]] = [*position_plans(found.chain, addresses), *(c.plan for c in checks)]
    block, outcomes = execute(client, chain.multicall3, plans, chunk_size=chunk_size)
    n = len(plans) - len(checks)
    changed = [c.key for c, o in zip(checks, outcomes[n:], strict=True) if _differs(c, o)]
    if changed:
        found = discover(client, chain, cache, force=changed, chunk_size=chunk_size)
        return read_positions(client, found.chain, addresses, chunk_size=chunk_size)
    positions = [o.value for o in outcomes[:n] if o.value is not None]
    # Odd reserve metadata found by discovery is the ingest tick's to report, not a position failure.
    failures = [f"{o.key}: {o.error}" for o in outcomes[:n] if o.error is not None]
    return PositionsAtBlock(chain.chain_id, block, positions, failures)


@dataclass(frozen=True)
class _Check:
    key: RootKey
    plan: ReadPlan[tuple[Any, ...]]
    fingerprint: tuple[Any, ...]


def _checks(chain: ChainRegistry, cache: DiscoveryCache, found: DiscoveredChain) -> list[_Check]:
    """Fingerprint reads for the roots served from cache (those just discovered need none)."""
    out = []
    for root in chain.roots:
        key = root_key(chain.chain_id, root)
        entry = cache.entries.get(key)
        if key in found.discovered or entry is None or not adapter_for(root.protocol).fingerprint_calls(root):
            continue
        out.append(
            _Check(key, _fingerprint_plan(f"fingerprint:{root.protocol}:{root.instance}", root), entry.fingerprint)
        )
    return out


@dataclass(frozen=True)
class _Read:
    snapshots: list[MarketSnapshot]
    failures: list[MarketFailure]
    changed: list[RootKey]
    block: BlockRef


def _read(client: ChainClient, chain: ChainRegistry, chunk_size: int, *, checks: Sequence[_Check] = ()) -> _Read:
    """Market plans and fingerprint checks in one execution (2 round trips)."""
    plans: list[ReadPlan[Any]] = [market_plan(chain.chain_id, m) for m in chain.markets]
    plans += [c.plan for c in checks]
    block, outcomes = execute(client, chain.multicall3, plans, chunk_size=chunk_size)
    n = len(chain.markets)
    snapshots: list[MarketSnapshot] = []
    failures: list[MarketFailure] = []
    for m, outcome in zip(chain.markets, outcomes[:n], strict=True):
        if outcome.value is not None:
            snapshots.append(outcome.value)
        else:
            failures.append(
                MarketFailure(
                    chain_id=chain.chain_id, protocol=m.protocol, market_key=m.key, error=outcome.error or "failed"
                )
            )
    changed = [c.key for c, o in zip(checks, outcomes[n:], strict=True) if _differs(c, o)]
    return _Read(snapshots, failures, changed, block)


def _differs(check: _Check, outcome: PlanOutcome[Any]) -> bool:
    # An unreadable fingerprint is not a change: the cached discovery stays until its TTL.
    return outcome.value is not None and outcome.value != check.fingerprint
