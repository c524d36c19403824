"""The market feed: the hot cache of each market's latest snapshot and "market changed" events.

Ingest writes; the API, rules and live updates read. `Publisher` is the thin seam between ingest
and its consumers: `InMemoryPublisher` (tests, in-process local run), `RedisPublisher` (local run
across processes: Redis pub/sub channel), and an EventBridge publisher in the ingest function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from tidewatch.cache import CacheAside, Cached, RedisClient
from tidewatch.events import MARKET_CHANGED_CHANNEL, MarketChanged
from tidewatch.observability import logger

HOT_NAMESPACE = "market"


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

    def __init__(self, client: RedisClient, channel: str = MARKET_CHANGED_CHANNEL) -> None:
        self._redis = client
        self._channel = channel

    def publish(self, events: Sequence[MarketChanged]) -> None:
        import redis

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
    import redis

    try:
        raw = client.get(hot_cache(client, 1).key(hot_key(chain_id, protocol, market_key)))
    except redis.RedisError:
        return None
    if raw is None:
        return None
    value: dict[str, Any] = json.loads(raw)["v"]
    return value


__all__ = [
    "Cached",
    "InMemoryPublisher",
    "MarketChanged",
    "Publisher",
    "RedisPublisher",
    "hot_cache",
    "hot_key",
    "latest_market",
]
