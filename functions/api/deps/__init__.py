"""Route dependencies of the HTTP API: one typed alias per collaborator a route may take.

    @router.get("/things", dependencies=[Depends(limit_by_ip)])
    def list_things(user: CurrentUser, db: DatabaseDep) -> ...

Every alias resolves against the app's `Services` (`api.deps.services`), which `create_app` builds
from one `ApiDeps` (`api.deps.collaborators`); tests override a collaborator by passing their own
`ApiDeps`. Providers that only hand over what is already built are `async def` (no worker-thread
hop); those that build an area's service on its first request are plain `def`, so a secret fetch
or a slow import runs off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends

from api.deps.collaborators import ApiDeps as ApiDeps
from api.deps.collaborators import production_deps as production_deps
from api.deps.security import current_claims as current_claims
from api.deps.security import limit_by_ip as limit_by_ip
from api.deps.security import limit_nonce_by_ip as limit_nonce_by_ip
from api.deps.services import Services as Services
from api.deps.services import ServicesDep as ServicesDep
from api.deps.services import TelegramBot as TelegramBot
from api.deps.services import build_services as build_services
from api.settings import ApiSettings
from tidewatch.cache import RedisClient
from tidewatch.db import Database
from tidewatch.identity.settings import AuthSettings
from tidewatch.identity.tokens import AccessClaims
from tidewatch.portfolios.positions import PositionSource
from tidewatch.portfolios.service import PortfolioService

if TYPE_CHECKING:
    # The services of the areas built on first request (api.deps.services): their modules load
    # with the router that uses them, not at cold start. FastAPI reads only the `Depends` of an
    # alias below, so the quoted types of MarketServiceDep, BillingDep and WalletClientDep are
    # never evaluated at run time.
    from api.deps.billing import BillingDeps
    from tidewatch.alerts.destinations import DestinationService
    from tidewatch.markets.service import MarketService
    from tidewatch.rules.service import RulesService
    from tidewatch.transactions.client import WalletClient


async def database(svc: ServicesDep) -> Database:
    return svc.deps.database


async def redis(svc: ServicesDep) -> RedisClient:
    return svc.deps.redis


async def clock(svc: ServicesDep) -> Callable[[], float]:
    return svc.deps.clock


async def api_settings(svc: ServicesDep) -> ApiSettings:
    return svc.deps.api


async def auth_settings(svc: ServicesDep) -> AuthSettings:
    return svc.deps.auth


async def position_source(svc: ServicesDep) -> PositionSource:
    return svc.deps.positions


async def portfolio_service(svc: ServicesDep) -> PortfolioService:
    return svc.portfolios


def market_service(svc: ServicesDep) -> MarketService:
    return svc.markets


def rules_service(svc: ServicesDep) -> RulesService:
    return svc.rules


def destination_service(svc: ServicesDep) -> DestinationService:
    return svc.destinations


def telegram_bot(svc: ServicesDep) -> TelegramBot | None:
    return svc.telegram_bot()


def push_key(svc: ServicesDep) -> str | None:
    return svc.push_key()


def billing(svc: ServicesDep) -> BillingDeps:
    return svc.billing


def wallet_client(svc: ServicesDep) -> WalletClient:
    """The one way a route reaches the wallet function (`tidewatch.transactions.client`)."""
    return svc.wallet


CurrentUser = Annotated[AccessClaims, Depends(current_claims)]
DatabaseDep = Annotated[Database, Depends(database)]
RedisDep = Annotated[RedisClient, Depends(redis)]
ClockDep = Annotated[Callable[[], float], Depends(clock)]
ApiSettingsDep = Annotated[ApiSettings, Depends(api_settings)]
AuthSettingsDep = Annotated[AuthSettings, Depends(auth_settings)]
PositionSourceDep = Annotated[PositionSource, Depends(position_source)]
PortfolioServiceDep = Annotated[PortfolioService, Depends(portfolio_service)]
MarketServiceDep = Annotated["MarketService", Depends(market_service)]
BillingDep = Annotated["BillingDeps", Depends(billing)]
WalletClientDep = Annotated["WalletClient", Depends(wallet_client)]
