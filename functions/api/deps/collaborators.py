"""Collaborators of the HTTP API, built once per container (`production_deps`) or by tests.

`create_app(deps)` takes everything it needs from an `ApiDeps`, so tests pass real Postgres/Redis
with fake position sources, clocks, on-chain checkers, wallet clients and Stripe settings — no
patching. `ApiDeps` is the only place a test overrides a collaborator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from api.settings import ApiSettings
from tidewatch import runtime
from tidewatch.cache import RedisClient
from tidewatch.db import Database
from tidewatch.identity.settings import AuthSettings
from tidewatch.identity.signatures import ContractSignatureChecker
from tidewatch.portfolios.positions import (
    NoPositionSource,
    Position,
    PositionReading,
    PositionSource,
    RiskForecaster,
)
from tidewatch.settings import ChainSettings

if TYPE_CHECKING:
    from api.deps.billing import BillingDeps
    from tidewatch.forecast.client import RiskClient
    from tidewatch.transactions.client import WalletClient


@dataclass(frozen=True)
class ApiDeps:
    database: Database
    redis: RedisClient
    api: ApiSettings = field(default_factory=ApiSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    positions: PositionSource = field(default_factory=NoPositionSource)
    risk: RiskForecaster | None = None
    # market ids → 24 h supply-APY outlooks (tidewatch.markets.service.OutlookSource); None: no forecasts
    apy_outlooks: Callable[[Sequence[int]], Mapping[int, Any]] | None = None
    contract_signatures: ContractSignatureChecker | None = None
    # Seconds since the epoch; injected so tests can move time (token expiry, rate-limit refill).
    clock: Callable[[], float] = time.time
    # None: the wallet client of TIDEWATCH_INVOKE_MODE, built on the first transactions request.
    wallet: WalletClient | None = None
    # None: Stripe settings and secrets from the environment, fetched on the first billing request.
    billing: BillingDeps | None = None


class ChainPositions:
    """The chain-backed `PositionSource`, built on first use.

    Reading chains needs eth_abi and the protocol readers (~0.4 s of imports); building them
    lazily keeps that off the cold start of every request that never shows positions.
    """

    def __init__(self, database: Database, redis: RedisClient, clock: Callable[[], float]) -> None:
        self._database = database
        self._redis = redis
        self._clock = clock
        self._source: PositionSource | None = None

    def _build(self) -> PositionSource:
        from tidewatch.chain.clients import build_clients
        from tidewatch.chain.settings import ChainReadSettings
        from tidewatch.portfolios.chain_source import ChainPositionSource
        from tidewatch.protocols.discovery import DiscoveryCache
        from tidewatch.protocols.positions import positions_cache
        from tidewatch.protocols.registry import load_registry

        chain, read = ChainSettings(), ChainReadSettings()
        clients = build_clients(chain, read)
        if not clients:
            return NoPositionSource()
        return ChainPositionSource(
            load_registry(chain.registry),
            clients,
            positions_cache(self._redis, read.position_cache_ttl_seconds),
            self._database,
            clock=self._clock,
            discovery=DiscoveryCache(ttl_seconds=read.discovery_ttl_seconds),
        )

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        if self._source is None:
            self._source = self._build()
        return self._source.read(chain_ids, addresses)


def contract_wallets_from_settings() -> ContractSignatureChecker | None:
    """EIP-1271 checks over the configured RPC URLs (TIDEWATCH_RPC_URLS or its secret), if any.

    The chain layer may provide a richer client later; anything with `is_valid_signature` fits.
    """
    from tidewatch.chain.clients import rpc_url_map

    chain = ChainSettings()
    urls = rpc_url_map(chain)
    if not urls:
        return None
    from tidewatch.identity.eip1271 import ContractWallets, json_rpc_eth_call

    return ContractWallets(json_rpc_eth_call(urls, timeout=chain.rpc_timeout_seconds))


class _RiskForecasterOnFirstUse:
    """The portfolio view's `RiskFunctionForecaster`, built (and the risk request models imported)
    on the first view that has positions: no other route's cold start pays for those imports."""

    def __init__(self, database: Database, risk: RiskClient) -> None:
        self._database = database
        self._risk = risk
        self._forecaster: RiskForecaster | None = None

    def forecast(self, positions: Sequence[Position]) -> dict[str, object]:
        if self._forecaster is None:
            from tidewatch.portfolios.risk_forecaster import RiskFunctionForecaster

            self._forecaster = RiskFunctionForecaster(self._database, self._risk)
        return self._forecaster.forecast(positions)


class _OutlooksOnFirstUse:
    """The markets' `RiskFunctionOutlooks`, built (and the market service imported) on the first
    market listing that asks for outlooks."""

    def __init__(self, redis: RedisClient, risk: RiskClient) -> None:
        self._redis = redis
        self._risk = risk
        self._outlooks: Callable[[Sequence[int]], Mapping[int, Any]] | None = None

    def __call__(self, market_ids: Sequence[int]) -> Mapping[int, Any]:
        if self._outlooks is None:
            from tidewatch.cache import CacheAside
            from tidewatch.markets.service import RiskFunctionOutlooks

            self._outlooks = RiskFunctionOutlooks(self._risk, CacheAside(self._redis, "apy-outlooks", ttl_seconds=300))
        return self._outlooks(market_ids)


def risk_forecaster(database: Database, risk: RiskClient) -> RiskForecaster:
    """The risk function behind the portfolio view: in-process locally, a Lambda invoke in AWS."""
    return _RiskForecasterOnFirstUse(database, risk)


def apy_outlooks(redis: RedisClient, risk: RiskClient) -> Callable[[Sequence[int]], Mapping[int, Any]]:
    """Market APY outlooks from the risk function, cached 5 minutes (the model moves slowly)."""
    return _OutlooksOnFirstUse(redis, risk)


@lru_cache(maxsize=1)
def production_deps() -> ApiDeps:
    """Settings are validated here, at cold start, so a misconfiguration names its variable at once."""
    from tidewatch.forecast.client import production_risk_client

    database, redis = runtime.database(), runtime.redis_client()
    risk = production_risk_client()
    return ApiDeps(
        database=database,
        redis=redis,
        api=ApiSettings(),
        auth=AuthSettings(),
        positions=ChainPositions(database, redis, time.time),
        risk=risk_forecaster(database, risk),
        apy_outlooks=apy_outlooks(redis, risk),
        contract_signatures=contract_wallets_from_settings(),
    )
