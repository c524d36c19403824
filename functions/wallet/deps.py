"""Collaborators of the wallet function, built once per container (and by the api's in-process mode)."""

from __future__ import annotations

from functools import lru_cache

from tidewatch import runtime
from tidewatch.chain.clients import rpc_url_map
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch.settings import ChainSettings
from tidewatch.transactions.service import StatusListener, WalletService
from tidewatch.transactions.settings import WalletSettings


@lru_cache(maxsize=1)
def chain_settings() -> ChainSettings:
    return ChainSettings()


@lru_cache(maxsize=1)
def chain_clients() -> dict[int, ChainClient]:
    settings = chain_settings()
    return {
        chain_id: ChainClient(chain_id, urls, timeout=settings.rpc_timeout_seconds)
        for chain_id, urls in rpc_url_map(settings).items()
        if urls
    }


def registry() -> Registry:
    return load_registry(chain_settings().registry)  # cached by path and mtime


@lru_cache(maxsize=1)
def wallet_service() -> WalletService:
    database = runtime.database()
    return WalletService(
        database=database,
        chains=chain_clients(),
        registry=registry(),
        settings=WalletSettings(),
        listener=status_pusher(database),
    )


def status_pusher(database: Database) -> StatusListener:
    """Status changes (submitted, confirmed, failed, replaced) reach the owner's open dashboards."""
    from tidewatch.live.settings import LiveSettings, broadcaster_from_settings
    from tidewatch.live.transaction_status import TransactionStatusPusher

    live = LiveSettings()
    broadcaster = broadcaster_from_settings(database, live)
    return TransactionStatusPusher(broadcaster)


def reset() -> None:
    """Forget cached collaborators (the local run and tests switch configurations)."""
    chain_settings.cache_clear()
    chain_clients.cache_clear()
    wallet_service.cache_clear()
