"""Ingest tick: read every market of every configured chain, record it, cache it, announce changes.

Per chain, all markets are read through Multicall3 at one block in 2 JSON-RPC round trips. Then,
in one database transaction per chain: markets are upserted, one `market_rates` row per market and
block is appended (`ON CONFLICT DO NOTHING`: re-running a tick writes nothing), and oracle prices
go to `asset_prices`. Only rows actually inserted count as news: their markets get a fresh hot-cache
entry and, when a headline value moved, a "market changed" event. A chain whose RPC fails is
reported in the result while the other chains are still ingested; a market whose calls fail is
skipped alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from tidewatch.cache import RedisClient
from tidewatch.chain.multicall import DEFAULT_CHUNK_SIZE
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.errors import DomainError
from tidewatch.events import ScheduledEvent
from tidewatch.marketfeed import MarketChanged, Publisher, hot_cache, hot_key, latest_market
from tidewatch.markets.repository import record_snapshots
from tidewatch.observability import MetricUnit, logger, metrics
from tidewatch.protocols.discovery import DiscoveryCache, read_markets_discovered
from tidewatch.protocols.models import MarketSnapshot
from tidewatch.protocols.reader import read_markets
from tidewatch.protocols.registry import Registry

_HEADLINE = ("supply_apy", "borrow_apy", "utilization", "price_usd", "total_supplied", "total_borrowed")


class ChainTick(BaseModel):
    chain_id: int
    block_number: int | None = None
    markets_read: int = 0
    rows_inserted: int = 0
    events_published: int = 0
    round_trips: int = 0
    discovered: list[str] = Field(default_factory=list)  # roots (re)discovered this tick
    failed_markets: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class TickResult(BaseModel):
    tick: str
    scheduled_at: datetime
    chains: list[ChainTick]

    @property
    def rows_inserted(self) -> int:
        return sum(c.rows_inserted for c in self.chains)


def run_tick(
    event: ScheduledEvent,
    *,
    database: Database,
    redis: RedisClient | None,
    registry: Registry,
    clients: Mapping[int, ChainClient],
    publisher: Publisher,
    market_ttl_seconds: float = 180,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    discovery: DiscoveryCache | None = None,
) -> TickResult:
    results = []
    for chain in registry.chains:
        client = clients.get(chain.chain_id)
        if client is None:
            continue  # a chain without RPC URLs is not ingested (e.g. Base not configured)
        before = client.round_trips
        tick = ChainTick(chain_id=chain.chain_id)
        try:
            if discovery is not None and chain.roots:
                read, found = read_markets_discovered(client, chain, discovery, chunk_size=chunk_size)
                tick.discovered = [f"{protocol}:{instance}" for _, protocol, instance in found.discovered]
            else:
                read = read_markets(client, chain, chunk_size=chunk_size)
        except DomainError as exc:
            logger.error("chain read failed", extra={"chain_id": chain.chain_id, "error": exc.detail})
            tick.error = exc.detail
            tick.round_trips = client.round_trips - before
            results.append(tick)
            metrics.add_metric(name="ChainReadFailed", unit=MetricUnit.Count, value=1)
            continue
        tick.block_number = read.block.number
        tick.markets_read = len(read.snapshots)
        tick.round_trips = client.round_trips - before
        tick.failed_markets = [f.model_dump() for f in read.failures]
        for failure in read.failures:
            logger.warning("market read failed", extra=failure.model_dump())
        observed_at = datetime.fromtimestamp(read.block.timestamp, tz=UTC)
        with database.transaction() as conn:
            inserted = record_snapshots(conn, read.snapshots, observed_at)
        tick.rows_inserted = len(inserted)
        events = _refresh_hot_cache(redis, inserted, observed_at, market_ttl_seconds)
        if events:
            publisher.publish(events)
        tick.events_published = len(events)
        results.append(tick)
        metrics.add_metric(name="MarketRowsInserted", unit=MetricUnit.Count, value=tick.rows_inserted)
        metrics.add_metric(name="MarketReadFailures", unit=MetricUnit.Count, value=len(read.failures))
    metrics.add_metric(name="IngestTick", unit=MetricUnit.Count, value=1)
    # The staleness alarm watches this one: missing for N minutes means no chain was read fully.
    if results and all(r.error is None for r in results):
        metrics.add_metric(name="IngestTickSucceeded", unit=MetricUnit.Count, value=1)
    return TickResult(tick=event.id, scheduled_at=event.time, chains=results)


def _headline(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(values[k]) if values.get(k) is not None else None) for k in _HEADLINE}


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def norm(v: Any) -> Any:
        return Decimal(v) if v is not None else None

    return all(norm(a.get(k)) == norm(b.get(k)) for k in _HEADLINE)


def _refresh_hot_cache(
    redis: RedisClient | None, inserted: Sequence[tuple[int, MarketSnapshot]], observed_at: datetime, ttl: float
) -> list[MarketChanged]:
    cache = hot_cache(redis, ttl)
    events: list[MarketChanged] = []
    for market_id, s in inserted:
        key = hot_key(s.chain_id, s.protocol, s.market_key)
        previous = latest_market(redis, s.chain_id, s.protocol, s.market_key)
        current = s.model_dump(mode="json")
        current["market_id"] = market_id
        current["observed_at"] = observed_at.isoformat()
        cache.put(key, current, fetched_at=observed_at.timestamp())
        if previous is not None and _same(previous, current):
            continue
        events.append(
            MarketChanged(
                market_id=market_id,
                chain_id=s.chain_id,
                protocol=s.protocol,
                market_key=s.market_key,
                asset_symbol=s.asset_symbol,
                block_number=s.block_number,
                observed_at=observed_at,
                supply_apy=s.supply_apy,
                borrow_apy=s.borrow_apy,
                utilization=s.utilization,
                price_usd=s.price_usd,
                total_supplied=s.total_supplied,
                total_borrowed=s.total_borrowed,
                previous=_headline(previous) if previous is not None else None,
            )
        )
    return events
