"""Sign-in and token failures, each with its own stable problem type so clients can tell them apart."""

from __future__ import annotations

from tidewatch.errors import BadRequest, Unauthorized, UpstreamUnavailable


class MalformedSiweMessage(BadRequest):
    type_slug = "siwe-malformed"
    title = "Malformed sign-in message"


class UnsupportedChain(BadRequest):
    type_slug = "siwe-unsupported-chain"
    title = "Chain not supported for sign-in"


class DomainMismatch(Unauthorized):
    type_slug = "siwe-domain-mismatch"
    title = "Sign-in message is for another site"


class UriMismatch(Unauthorized):
    type_slug = "siwe-uri-mismatch"
    title = "Sign-in message URI is not this site"


class InvalidNonce(Unauthorized):
    type_slug = "siwe-invalid-nonce"
    title = "Unknown, expired or already used nonce"


class MessageExpired(Unauthorized):
    type_slug = "siwe-expired"
    title = "Sign-in message expired"


class MessageNotYetValid(Unauthorized):
    type_slug = "siwe-not-yet-valid"
    title = "Sign-in message not yet valid"


class InvalidSignature(Unauthorized):
    type_slug = "siwe-invalid-signature"
    title = "Signature does not match the address"


class InvalidToken(Unauthorized):
    type_slug = "invalid-token"
    title = "Invalid or expired token"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        # RFC 6750: tell the client which scheme and why.
        self.headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'}


class MissingToken(Unauthorized):
    type_slug = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str = "This route needs a Bearer access token.") -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Bearer realm="tidewatch"'}


class InvalidRefreshToken(Unauthorized):
    type_slug = "invalid-refresh-token"
    title = "Invalid, expired or revoked refresh token"


class AuthNotConfigured(UpstreamUnavailable):
    type_slug = "auth-not-configured"
    title = "Sign-in is not configured"
