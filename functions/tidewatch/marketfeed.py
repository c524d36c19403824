"""The market feed: the hot cache of each market's latest snapshot and "market changed" events.

Ingest writes; the API, rules and live updates read. `Publisher` is the thin seam between ingest
and its consumers: `InMemoryPublisher` (tests, in-process local run), `RedisPublisher` (local run
across processes: Redis pub/sub channel), and an EventBridge publisher in the ingest function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

import redis
from pydantic import BaseModel, ConfigDict

from tidewatch.cache import CacheAside, Cached, RedisClient
from tidewatch.observability import logger

MARKET_CHANGED = "market.changed"
EVENT_SOURCE = "tidewatch.ingest"
REDIS_CHANNEL = "tw:events:market-changed"
HOT_NAMESPACE = "market"


class MarketChanged(BaseModel):
    """A market's state at a new block differs from the previous one Tidewatch saw."""

    model_config = ConfigDict(frozen=True)

    type: Literal["market.changed"] = "market.changed"
    market_id: int
    chain_id: int
    protocol: str
    market_key: str
    asset_symbol: str
    block_number: int
    observed_at: datetime
    supply_apy: Decimal | None = None
    borrow_apy: Decimal | None = None
    utilization: Decimal | None = None
    price_usd: Decimal | None = None
    total_supplied: int | None = None
    total_borrowed: int | None = None
    previous: dict[str, Any] | None = None  # the previous snapshot's headline values, if known

    @property
    def topic(self) -> str:
        """WebSocket topic: one per market."""
        return f"market:{self.chain_id}:{self.protocol}:{self.market_key.lower()}"


class Publisher(Protocol):
    def publish(self, events: Sequence[MarketChanged]) -> None: ...


class InMemoryPublisher:
    """Keeps every event and calls subscribers synchronously (tests and the single-process run)."""

    def __init__(self) -> None:
        self.events: list[MarketChanged] = []
        self._subscribers: list[Callable[[MarketChanged], None]] = []

    def subscribe(self, callback: Callable[[MarketChanged], None]) -> None:
        self._subscribers.append(callback)

    def publish(self, events: Sequence[MarketChanged]) -> None:
        for event in events:
            self.events.append(event)
            for callback in self._subscribers:
                callback(event)


class RedisPublisher:
    """Publishes each event as JSON on a Redis pub/sub channel (local run: other processes listen)."""

    def __init__(self, client: RedisClient, channel: str = REDIS_CHANNEL) -> None:
        self._redis = client
        self._channel = channel

    def publish(self, events: Sequence[MarketChanged]) -> None:
        for event in events:
            try:
                self._redis.publish(self._channel, event.model_dump_json())
            except redis.RedisError as exc:
                logger.warning("market event not published", extra={"error": str(exc), "topic": event.topic})


def hot_key(chain_id: int, protocol: str, market_key: str) -> str:
    return f"{chain_id}:{protocol}:{market_key.lower()}"


def hot_cache(client: RedisClient | None, ttl_seconds: float) -> CacheAside:
    """Per-market latest snapshot; the entry expires after `ttl_seconds` (a stale feed disappears)."""
    return CacheAside(client, HOT_NAMESPACE, ttl_seconds=ttl_seconds, keep_seconds=max(1, int(ttl_seconds)))


def latest_market(client: RedisClient | None, chain_id: int, protocol: str, market_key: str) -> dict[str, Any] | None:
    """The hot-cached snapshot (JSON dict) of one market, or None when absent/expired."""
    if client is None:
        return None
    try:
        raw = client.get(hot_cache(client, 1).key(hot_key(chain_id, protocol, market_key)))
    except redis.RedisError:
        return None
    if raw is None:
        return None
    value: dict[str, Any] = json.loads(raw)["v"]
    return value


__all__ = [
    "MARKET_CHANGED",
    "Cached",
    "InMemoryPublisher",
    "MarketChanged",
    "Publisher",
    "RedisPublisher",
    "hot_cache",
    "hot_key",
    "latest_market",
]
