"""One market snapshot per tick, read once by the coordinator and shared by every shard.

The coordinator writes the latest market state to Redis under the tick's key; each shard reads
that one key instead of querying PostgreSQL itself, so N shards cost one market read, not N.
When the key is missing (expired, Redis down) a shard falls back to its own source: slower,
never wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tidewatch.cache import RedisClient
from tidewatch.observability import logger
from tidewatch.rules.snapshot import MarketSnapshotSource, MarketState, PriceWindow

KEY_PREFIX = "tw:rules:tick-markets:"
KEEP_SECONDS = 600


def tick_markets_key(tick_id: str) -> str:
    return f"{KEY_PREFIX}{tick_id}"


def _encode(state: MarketState) -> dict[str, Any]:
    return {
        "market_id": state.market_id,
        "supply_apy": state.supply_apy,
        "borrow_apy": state.borrow_apy,
        "chain_id": state.chain_id,
        "asset_symbol": state.asset_symbol,
        "price_usd": state.price_usd,
        "observed_at": state.observed_at.isoformat() if state.observed_at else None,
    }


def _decode(item: Mapping[str, Any]) -> MarketState:
    observed = item.get("observed_at")
    return MarketState(
        market_id=int(item["market_id"]),
        supply_apy=item.get("supply_apy"),
        borrow_apy=item.get("borrow_apy"),
        chain_id=int(item.get("chain_id", 1)),
        asset_symbol=str(item.get("asset_symbol", "")),
        price_usd=item.get("price_usd"),
        observed_at=datetime.fromisoformat(observed) if observed else None,
    )


def publish_tick_markets(redis: RedisClient | None, key: str, markets: Sequence[MarketState]) -> bool:
    """Store the tick's market snapshot; False (and shards read their own) when Redis is unavailable."""
    if redis is None:
        return False
    try:
        redis.set(key, json.dumps([_encode(m) for m in markets], separators=(",", ":")), ex=KEEP_SECONDS)
    except Exception as exc:  # the cache is an optimisation: shards fall back to PostgreSQL
        logger.warning("tick market snapshot not shared", extra={"error": str(exc)})
        return False
    return True


class SharedMarketSource:
    """Latest markets from the tick's shared snapshot (one read), falling back to `fallback`."""

    def __init__(self, redis: RedisClient | None, key: str | None, fallback: MarketSnapshotSource) -> None:
        self._redis = redis
        self._key = key
        self._fallback = fallback
        self.served_from = "unread"

    def latest_markets(self) -> Sequence[MarketState]:
        if self._redis is not None and self._key is not None:
            try:
                raw = self._redis.get(self._key)
            except Exception as exc:
                logger.warning("tick market snapshot unreadable", extra={"error": str(exc)})
                raw = None
            if raw is not None:
                self.served_from = "shared"
                return [_decode(item) for item in json.loads(raw)]
        self.served_from = "fallback"
        return self._fallback.latest_markets()

    def price_changes(self, windows: Sequence[PriceWindow], at: datetime) -> Mapping[PriceWindow, float]:
        return self._fallback.price_changes(windows, at)
