"""Where the JWT key ring comes from: env JSON locally, Secrets Manager / SSM in AWS.

Shared by every consumer of access tokens (HTTP API, WebSocket `$connect`), so they all verify
with the same ring and follow the same rotation.
"""

from __future__ import annotations

from collections.abc import Callable

from tidewatch.identity.settings import AuthSettings
from tidewatch.identity.tokens import KeyRing, TokenService, key_ring_from_secret


def key_ring_source(auth: AuthSettings) -> Callable[[], KeyRing] | None:
    """A function returning the current ring, or None when no keys are configured."""
    if auth.jwt_keys_secret_arn:
        from tidewatch.secrets import fetch_json_secret

        reference = auth.jwt_keys_secret_arn
        # Checked once now (fail at cold start), then re-read through Powertools' cache (5 min).
        key_ring_from_secret(fetch_json_secret(reference), auth.jwt_active_kid)
        return lambda: key_ring_from_secret(fetch_json_secret(reference), auth.jwt_active_kid)
    if auth.jwt_keys:
        ring = KeyRing.from_secrets({k: v.get_secret_value() for k, v in auth.jwt_keys.items()}, auth.jwt_active_kid)
        return lambda: ring
    return None


def token_service(auth: AuthSettings, clock: Callable[[], float]) -> TokenService | None:
    """The access-token service for these settings (None when no keys are configured)."""
    ring = key_ring_source(auth)
    if ring is None:
        return None
    return TokenService(
        ring,
        issuer=auth.jwt_issuer,
        audience=auth.jwt_audience,
        lifetime_seconds=auth.access_token_seconds,
        clock=clock,
    )
