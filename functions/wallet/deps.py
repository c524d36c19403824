"""Collaborators of the wallet function, built once per container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tidewatch import runtime
from tidewatch.chain.clients import rpc_url_map
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.protocols.registry import load_registry
from tidewatch.settings import ChainSettings
from tidewatch.transactions.service import StatusListener, WalletService
from tidewatch.transactions.settings import WalletSettings


@dataclass(frozen=True)
class WalletDeps:
    database: Database
    service: WalletService


def chain_clients(settings: ChainSettings) -> dict[int, ChainClient]:
    return {
        chain_id: ChainClient(chain_id, urls, timeout=settings.rpc_timeout_seconds)
        for chain_id, urls in rpc_url_map(settings).items()
        if urls
    }


def build_deps(
    database: Database,
    *,
    chain: ChainSettings,
    wallet: WalletSettings,
    chains: dict[int, ChainClient] | None = None,
    listener: StatusListener | None = None,
) -> WalletDeps:
    """The wallet service over these settings; `chains` replaces the configured RPC clients."""
    service = WalletService(
        database=database,
        chains=chain_clients(chain) if chains is None else chains,
        registry=load_registry(chain.registry),  # cached by path and mtime
        settings=wallet,
        listener=listener,
    )
    return WalletDeps(database, service)


@lru_cache(maxsize=1)
def production_deps() -> WalletDeps:
    database = runtime.database()
    return build_deps(database, chain=ChainSettings(), wallet=WalletSettings(), listener=status_pusher(database))


def status_pusher(database: Database) -> StatusListener:
    """Status changes (submitted, confirmed, failed, replaced) reach the owner's open dashboards."""
    from tidewatch.live.settings import LiveSettings, broadcaster_from_settings
    from tidewatch.live.transaction_status import TransactionStatusPusher

    live = LiveSettings()
    broadcaster = broadcaster_from_settings(database, live)
    return TransactionStatusPusher(broadcaster)


def reset() -> None:
    """Forget the cached collaborators (the local run and tests switch configurations)."""
    production_deps.cache_clear()
