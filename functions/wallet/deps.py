"""Collaborators of the wallet function, built once per container (and by the api's in-process mode)."""

from __future__ import annotations

import json
from functools import lru_cache

from tidewatch import runtime
from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.registry import Registry, load_registry
from tidewatch.settings import ChainSettings
from tidewatch.transactions.service import WalletService
from tidewatch.transactions.settings import WalletSettings


def rpc_url_map(settings: ChainSettings) -> dict[int, list[str]]:
    if settings.rpc_urls_secret_arn:
        from tidewatch.secrets import fetch_secret

        raw = json.loads(fetch_secret(settings.rpc_urls_secret_arn))
        return {int(k): list(v) for k, v in raw.items()}
    return {int(k): list(v) for k, v in settings.rpc_urls.items()}


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
    return WalletService(
        database=runtime.database(), chains=chain_clients(), registry=registry(), settings=WalletSettings()
    )


def reset() -> None:
    """Forget cached collaborators (the local run and tests switch configurations)."""
    chain_settings.cache_clear()
    chain_clients.cache_clear()
    wallet_service.cache_clear()
