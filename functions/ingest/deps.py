"""Process-wide collaborators of the ingest function (built once per container)."""

from __future__ import annotations

from functools import lru_cache

from tidewatch.backfill.service import backfill_clients as make_backfill_clients
from tidewatch.backfill.settings import BackfillSettings
from tidewatch.chain.clients import build_clients
from tidewatch.chain.rpc import ChainClient
from tidewatch.chain.settings import ChainReadSettings
from tidewatch.marketfeed import InMemoryPublisher, Publisher, RedisPublisher
from tidewatch.protocols.discovery import DiscoveryCache
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch.settings import ChainSettings, FunctionsSettings


@lru_cache(maxsize=1)
def chain_settings() -> ChainSettings:
    return ChainSettings()


@lru_cache(maxsize=1)
def read_settings() -> ChainReadSettings:
    return ChainReadSettings()


@lru_cache(maxsize=1)
def registry() -> Registry:
    return load_registry(chain_settings().registry)


@lru_cache(maxsize=1)
def chain_clients() -> dict[int, ChainClient]:
    return build_clients(chain_settings(), read_settings())


@lru_cache(maxsize=1)
def publisher() -> Publisher:
    settings = FunctionsSettings()
    if settings.publish_mode == "eventbridge":
        from ingest.publishers import EventBridgePublisher

        return EventBridgePublisher(settings.event_bus_name)
    from tidewatch import runtime

    try:
        return RedisPublisher(runtime.redis_client())
    except Exception:  # no Redis configured: events stay in process
        return InMemoryPublisher()


@lru_cache(maxsize=1)
def discovery_cache() -> DiscoveryCache:
    """Discovered markets per root, kept while the container is warm (a reserve listed in
    between is picked up by the fingerprint check of the next tick)."""
    return DiscoveryCache(ttl_seconds=read_settings().discovery_ttl_seconds)


@lru_cache(maxsize=1)
def backfill_settings() -> BackfillSettings:
    return BackfillSettings()


@lru_cache(maxsize=1)
def backfill_clients() -> dict[int, ChainClient]:
    """Clients for history reads: paced to the backfill's requests-per-second budget."""
    return make_backfill_clients(chain_settings(), read_settings(), backfill_settings())


def reset() -> None:
    for cached in (
        chain_settings,
        read_settings,
        registry,
        chain_clients,
        publisher,
        discovery_cache,
        backfill_settings,
        backfill_clients,
    ):
        cached.cache_clear()
