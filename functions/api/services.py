"""Domain services built once per app from its `ApiDeps` (kept on `app.state.services`)."""

from __future__ import annotations

from dataclasses import dataclass

from api.deps import ApiDeps
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
