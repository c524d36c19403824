"""Route dependencies: who is calling (Bearer JWT) and how often (rate limits).

Routers of every area use these (through `api.deps`):

    @router.get("/things", dependencies=[Depends(limit_by_ip)])
    def list_things(user: CurrentUser) -> ...

`CurrentUser` verifies the access token, checks its user still exists (a deleted user's token is
a 401) and spends one token of the user's plan bucket.

These dependencies are `async def` on purpose: each does microseconds of CPU and at most one
sub-millisecond Redis call, and a sync dependency would cost a worker-thread hop (and, under
Mangum, a thread start per invocation) — more than the work itself.
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps.services import ServicesDep
from tidewatch.identity.errors import InvalidToken, MissingToken
from tidewatch.identity.tokens import AccessClaims
from tidewatch.ratelimit import Decision

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/verify or /auth/refresh.")


def client_ip(request: Request) -> str:
    # Behind API Gateway, Mangum sets the client from requestContext.http.sourceIp (not spoofable
    # through X-Forwarded-For); locally it is the socket peer.
    return request.client.host if request.client else "unknown"


def _set_headers(response: Response, decision: Decision) -> None:
    if decision.enforced:
        response.headers.update(decision.headers())


async def limit_by_ip(request: Request, response: Response, svc: ServicesDep) -> None:
    decision = svc.limiter.enforce(f"ip:{client_ip(request)}", svc.ip_bucket(), scope="client address")
    _set_headers(response, decision)


async def limit_nonce_by_ip(request: Request, response: Response, svc: ServicesDep) -> None:
    """Nonce issuance fails closed: without Redis there is no limit, so no nonce either."""
    decision = svc.limiter.enforce(
        f"nonce-ip:{client_ip(request)}", svc.nonce_bucket(), scope="client address", fail_closed=True
    )
    _set_headers(response, decision)


async def current_claims(
    request: Request,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    svc: ServicesDep,
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise MissingToken()
    claims = svc.require_tokens().verify(credentials.credentials)
    # The database is asked at most once per TTL per user, off the event loop.
    if (
        not svc.users.recently_seen(claims.user_id)
        and await to_thread.run_sync(svc.users.exists, claims.user_id) is False
    ):
        raise InvalidToken("the account this token was issued for no longer exists")
    request.state.user_id = claims.user_id  # for the access log line
    decision = svc.limiter.enforce(f"user:{claims.user_id}", svc.plan_bucket(claims.plan), scope="user")
    _set_headers(response, decision)
    return claims
