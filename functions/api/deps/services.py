"""The API's domain services, built once per app from its `ApiDeps` (`create_app` keeps them on the app).

Sign-in, tokens, rate limits and portfolios are built with the app. The services of the other areas
are built on their first request, because building them costs imports (numpy for rule dry runs,
the alert channels) or secret fetches (Stripe, the rules signing key) that no other route needs at
cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from starlette.applications import Starlette

from api.deps.collaborators import ApiDeps
from tidewatch.billing.limits import ensure_portfolio_allowed
from tidewatch.cache import CacheAside
from tidewatch.identity.errors import AuthNotConfigured
from tidewatch.identity.keys import token_service
from tidewatch.identity.nonces import NonceStore
from tidewatch.identity.refresh import RefreshTokens
from tidewatch.identity.repository import PostgresRefreshTokens, UserRepository
from tidewatch.identity.signin import SignIn, site_rules
from tidewatch.identity.tokens import TokenService
from tidewatch.identity.users import KnownUsers
from tidewatch.observability import logger
from tidewatch.portfolios.repository import PortfolioRepository
from tidewatch.portfolios.service import PortfolioService
from tidewatch.ratelimit import Bucket, RateLimiter

if TYPE_CHECKING:
    from api.deps.billing import BillingDeps
    from tidewatch.alerts.destinations import DestinationService
    from tidewatch.alerts.settings import AlertsSettings
    from tidewatch.markets.service import MarketService
    from tidewatch.rules.service import RulesService
    from tidewatch.transactions.client import WalletClient

# Ingest refreshes every minute; 15 s keeps the market list cheap without hiding a fresh tick for long.
MARKET_LIST_CACHE_SECONDS = 15.0


@dataclass(frozen=True)
class TelegramBot:
    webhook_secret: str
    reply: Callable[[str, str], Any]  # chat id, text


@dataclass
class Services:
    deps: ApiDeps
    tokens: TokenService | None
    sign_in: SignIn | None
    limiter: RateLimiter
    portfolios: PortfolioService
    users: KnownUsers

    def require_tokens(self) -> TokenService:
        if self.tokens is None:
            raise AuthNotConfigured(
                "no JWT signing keys configured (TIDEWATCH_JWT_KEYS or TIDEWATCH_JWT_KEYS_SECRET_ARN)"
            )
        return self.tokens

    def require_sign_in(self) -> SignIn:
        if self.sign_in is None:
            raise AuthNotConfigured(
                "no JWT signing keys configured (TIDEWATCH_JWT_KEYS or TIDEWATCH_JWT_KEYS_SECRET_ARN)"
            )
        return self.sign_in

    def plan_bucket(self, plan: str) -> Bucket:
        limits = self.deps.api.rate_limit_plans
        limit = limits.get(plan) or limits.get("free") or next(iter(limits.values()))
        return Bucket(limit.burst, limit.per_second)

    def ip_bucket(self) -> Bucket:
        return Bucket(self.deps.api.rate_limit_ip.burst, self.deps.api.rate_limit_ip.per_second)

    def nonce_bucket(self) -> Bucket:
        return Bucket(self.deps.api.rate_limit_nonce.burst, self.deps.api.rate_limit_nonce.per_second)

    @cached_property
    def markets(self) -> MarketService:
        from tidewatch.markets.service import MarketService

        return MarketService(
            self.deps.database,
            CacheAside(self.deps.redis, "markets", ttl_seconds=MARKET_LIST_CACHE_SECONDS),
            outlooks=self.deps.apy_outlooks,
            clock=self.deps.clock,
        )

    @cached_property
    def rules(self) -> RulesService:
        """Plan limits come from billing (checked against the plan in the database); dry runs read
        the same Postgres market and position sources as the rules function's tick."""
        from tidewatch.rules.egress import EgressPolicy
        from tidewatch.rules.repository import PostgresRules
        from tidewatch.rules.service import RulesService
        from tidewatch.rules.settings import RulesSettings, signing_key
        from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource
        from tidewatch.rules.tick import TickSources

        database = self.deps.database
        settings = RulesSettings()
        return RulesService(
            PostgresRules(database),
            signing_key=signing_key(settings),
            sources=TickSources(PostgresMarketSource(database), SnapshotPositionSource(database), None),
            # The same policy as the rules function's deliveries, so creation refuses what delivery would.
            egress=EgressPolicy(allow_private=settings.webhook_allow_private_targets),
        )

    @cached_property
    def alerts_settings(self) -> AlertsSettings:
        from tidewatch.alerts.settings import AlertsSettings

        return AlertsSettings()

    @cached_property
    def destinations(self) -> DestinationService:
        from tidewatch.alerts.destinations import DestinationService
        from tidewatch.alerts.outbox import Outbox
        from tidewatch.alerts.repository import PostgresDestinations
        from tidewatch.alerts.settings import delivery_queue, destination_settings, email_channel

        settings, database = self.alerts_settings, self.deps.database
        return DestinationService(
            PostgresDestinations(database),
            destination_settings(settings),
            egress=settings.egress(),
            email=email_channel(settings),
            outbox=Outbox(database, delivery_queue(database, settings)),
        )

    def telegram_bot(self) -> TelegramBot | None:
        from tidewatch.alerts.settings import telegram_channel

        settings = self.alerts_settings
        channel = telegram_channel(settings)
        if channel is None:
            return None
        return TelegramBot(settings.telegram["webhook_secret"], channel.send_text)

    def push_key(self) -> str | None:
        vapid = self.alerts_settings.vapid
        return vapid.public_key if vapid else None

    @cached_property
    def billing(self) -> BillingDeps:
        from api.deps.billing import production_billing_deps

        return self.deps.billing if self.deps.billing is not None else production_billing_deps()

    @cached_property
    def wallet(self) -> WalletClient:
        from api.deps.wallet import production_wallet_client

        return self.deps.wallet if self.deps.wallet is not None else production_wallet_client()


def build_services(deps: ApiDeps) -> Services:
    auth = deps.auth
    tokens = token_service(auth, deps.clock)
    if tokens is None:
        logger.warning("no JWT keys configured: sign-in and protected routes answer 503 until they are")
    sign_in = (
        SignIn(
            rules=site_rules(
                auth.site_domain,
                auth.site_uri,
                auth.supported_chain_ids,
                auth.clock_skew_seconds,
                auth.nonce_seconds,
            ),
            nonces=NonceStore(deps.redis, ttl_seconds=auth.nonce_seconds),
            users=UserRepository(deps.database),
            tokens=tokens,
            refresh=RefreshTokens(
                PostgresRefreshTokens(deps.database), lifetime_seconds=auth.refresh_token_seconds, clock=deps.clock
            ),
            contracts=deps.contract_signatures,
            clock=deps.clock,
        )
        if tokens is not None
        else None
    )
    portfolios = PortfolioService(
        PortfolioRepository(deps.database, admission=ensure_portfolio_allowed),
        deps.positions,
        CacheAside(deps.redis, "portfolio-positions", ttl_seconds=deps.api.portfolio_cache_seconds, clock=deps.clock),
        supported_chains=auth.supported_chain_ids,
        risk=deps.risk,
        clock=deps.clock,
    )
    return Services(
        deps=deps,
        tokens=tokens,
        sign_in=sign_in,
        limiter=RateLimiter(deps.redis, clock=deps.clock),
        portfolios=portfolios,
        users=KnownUsers(deps.database),
    )


def install_services(app: Starlette, services: Services) -> None:
    app.state.services = services


def services_of(app: Starlette) -> Services:
    """The app's services: the one place that reads them off the app (routes and middleware)."""
    services: Services = app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]
