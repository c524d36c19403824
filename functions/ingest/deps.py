"""Collaborators of the ingest function, built once per container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tidewatch.backfill.service import backfill_clients
from tidewatch.backfill.settings import BackfillSettings
from tidewatch.cache import RedisClient
from tidewatch.chain.clients import build_clients
from tidewatch.chain.rpc import ChainClient
from tidewatch.chain.settings import ChainReadSettings
from tidewatch.db import Database
from tidewatch.marketfeed import InMemoryPublisher, Publisher, RedisPublisher
from tidewatch.protocols.discovery import DiscoveryCache
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch.settings import ChainSettings, FunctionsSettings


@dataclass(frozen=True)
class IngestDeps:
    database: Database
    redis: RedisClient
    registry: Registry
    clients: dict[int, ChainClient]
    publisher: Publisher
    read: ChainReadSettings
    # Discovered markets per root, kept while the container is warm (a reserve listed in between
    # is picked up by the fingerprint check of the next tick).
    discovery: DiscoveryCache
    backfill: BackfillSettings
    # Clients for history reads: paced to the backfill's requests-per-second budget.
    backfill_clients: dict[int, ChainClient]


def build_deps(
    database: Database,
    redis: RedisClient,
    *,
    chain: ChainSettings,
    read: ChainReadSettings,
    backfill: BackfillSettings,
    publisher: Publisher,
) -> IngestDeps:
    return IngestDeps(
        database=database,
        redis=redis,
        registry=load_registry(chain.registry),
        clients=build_clients(chain, read),
        publisher=publisher,
        read=read,
        discovery=DiscoveryCache(ttl_seconds=read.discovery_ttl_seconds),
        backfill=backfill,
        backfill_clients=backfill_clients(chain, read, backfill),
    )


def publisher_from_settings(settings: FunctionsSettings) -> Publisher:
    """EventBridge in AWS; Redis pub/sub locally (in process when no Redis is configured)."""
    if settings.publish_mode == "eventbridge":
        from ingest.publishers import EventBridgePublisher

        return EventBridgePublisher(settings.event_bus_name)
    from tidewatch import runtime

    try:
        return RedisPublisher(runtime.redis_client())
    except Exception:  # no Redis configured: events stay in process
        return InMemoryPublisher()


@lru_cache(maxsize=1)
def production_deps() -> IngestDeps:
    from tidewatch import runtime

    return build_deps(
        runtime.database(),
        runtime.redis_client(),
        chain=ChainSettings(),
        read=ChainReadSettings(),
        backfill=BackfillSettings(),
        publisher=publisher_from_settings(FunctionsSettings()),
    )


def reset() -> None:
    """Forget the cached collaborators (tests and the local run switch configurations)."""
    production_deps.cache_clear()
