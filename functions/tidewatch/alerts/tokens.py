"""Signed links (verify an email address, unsubscribe) that work without a login.

A token is `<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, purpose "." claims))>`. The
claims name the destination and a digest of its address, so a token made for one address never
verifies another (an address re-added after deletion gets a new id, and the old link dies with
the old row). Verification links expire; unsubscribe links do not (RFC 8058 one-click must keep
working for old mails).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


class BadToken(ValueError):
    """The link is malformed, forged, for another purpose or expired."""


@dataclass(frozen=True)
class LinkClaims:
    destination_id: int
    address_digest: str
    expires_at: int | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def address_digest(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]


def derive_key(master: bytes) -> bytes:
    """The links' own key, separate from what the master key signs elsewhere."""
    return hmac.new(master, b"tidewatch-alert-links", hashlib.sha256).digest()


def make_token(key: bytes, purpose: str, destination_id: int, address: str, *, expires_at: int | None) -> str:
    claims = {"d": destination_id, "a": address_digest(address), "e": expires_at}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read_token(key: bytes, purpose: str, token: str, *, now: float) -> LinkClaims:
    if len(token) > 512 or token.count(".") != 1:
        raise BadToken("malformed link")
    body, mac = token.split(".")
    expected = hmac.new(key, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
        claims = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadToken("malformed link") from exc
    if not hmac.compare_digest(expected, given):
        raise BadToken("this link is not valid")
    if not isinstance(claims, dict) or not isinstance(claims.get("d"), int) or not isinstance(claims.get("a"), str):
        raise BadToken("malformed link")
    expires = claims.get("e")
    if expires is not None and (not isinstance(expires, int) or now > expires):
        raise BadToken("this link has expired")
    return LinkClaims(int(claims["d"]), str(claims["a"]), expires)
