"""Build one `ChainClient` per configured chain from settings (used by ingest and the API)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tidewatch.settings import ChainSettings

if TYPE_CHECKING:
    from tidewatch.chain.rpc import ChainClient
    from tidewatch.chain.settings import ChainReadSettings


def rpc_url_map(settings: ChainSettings) -> dict[int, list[str]]:
    if settings.rpc_urls_secret_arn:
        from tidewatch.secrets import fetch_secret

        raw = json.loads(fetch_secret(settings.rpc_urls_secret_arn))
        return {int(k): list(v) for k, v in raw.items()}
    return {int(k): list(v) for k, v in settings.rpc_urls.items()}


def build_clients(settings: ChainSettings, read: ChainReadSettings) -> dict[int, ChainClient]:
    # Imported here: the api's cold start reads only the URL map (rpc_url_map, for EIP-1271 checks).
    from tidewatch.chain.rpc import ChainClient, RetryPolicy

    retry = RetryPolicy(rounds=read.rpc_retry_rounds, backoff_seconds=read.rpc_backoff_seconds)
    return {
        chain_id: ChainClient(chain_id, urls, timeout=settings.rpc_timeout_seconds, retry=retry)
        for chain_id, urls in rpc_url_map(settings).items()
        if urls
    }
