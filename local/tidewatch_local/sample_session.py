"""Makes the sample events runnable as they are: placeholders become a real local session.

Events for protected routes carry `REPLACE_WITH_ACCESS_TOKEN` / `REPLACE_WITH_REFRESH_TOKEN`, and
routes on one portfolio carry `REPLACE_WITH_PORTFOLIO_ID`. Before such an event is invoked, a
local developer wallet signs in through the api handler itself — nonce, an EIP-4361 message signed
with the wallet's key, verify: the real flow, no back door — and, when needed, creates a sample
portfolio; the placeholders are then replaced by the results.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tidewatch_local.http_events import build_http_event
from tidewatch_local.invoker import InvokeError, LocalInvoker

ACCESS = "REPLACE_WITH_ACCESS_TOKEN"
REFRESH = "REPLACE_WITH_REFRESH_TOKEN"
PORTFOLIO = "REPLACE_WITH_PORTFOLIO_ID"
RULE = "REPLACE_WITH_RULE_ID"
# The well-known first development account of Anvil/Hardhat: a key everyone knows is for testing.
DEV_WALLET_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _request(invoker: LocalInvoker, method: str, path: str, *, body: Any = None, token: str | None = None) -> Any:
    headers = {"content-type": "application/json", "user-agent": "tidewatch-invoke"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    route = invoker.template.match_http(method, path)
    if route is None:
        raise InvokeError(f"template.yaml has no route for {method} {path}")
    event = build_http_event(
        method=method,
        path=path,
        query_string="",
        headers=headers,
        cookies=[],
        body=json.dumps(body).encode() if body is not None else b"",
        route_key=route[0].route_key,
        path_parameters=route[1],
        source_ip="127.0.0.1",
        domain="localhost",
    )
    result = invoker.invoke(route[0].function, event)
    status = int(result.get("statusCode", 500))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    if status >= 400:
        raise InvokeError(f"local sign-in failed at {method} {path}: {status} {body[:300]}")
    return json.loads(body) if body else None


def sign_in(invoker: LocalInvoker) -> dict[str, Any]:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from tidewatch.identity.settings import AuthSettings
    from tidewatch.identity.siwe import SiweMessage

    settings = AuthSettings()
    account = Account.from_key(DEV_WALLET_KEY)
    nonce = _request(invoker, "GET", "/auth/nonce")["nonce"]
    now = datetime.now(UTC).replace(microsecond=0)
    text = SiweMessage(
        domain=settings.site_domain,
        address=str(account.address),
        uri=settings.site_uri,
        version="1",
        chain_id=settings.supported_chain_ids[0],
        nonce=nonce,
        issued_at=now,
        expiration_time=now + timedelta(minutes=5),
        statement="Sign in to Tidewatch (local sample session).",
    ).to_text()
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()
    tokens: dict[str, Any] = _request(invoker, "POST", "/auth/verify", body={"message": text, "signature": signature})
    return tokens


_sessions: dict[int, dict[str, Any]] = {}


def prepare_event(invoker: LocalInvoker, event: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(event)
    if not any(p in text for p in (ACCESS, REFRESH, PORTFOLIO, RULE)):
        return event
    # One sign-in serves every event of a run (nonces are rate limited per client); an event that
    # spends a refresh token (refresh, logout) gets a session of its own.
    if REFRESH in text or id(invoker) not in _sessions:
        _sessions[id(invoker)] = sign_in(invoker)
    tokens = _sessions[id(invoker)]
    portfolio_id: int | None = None
    if PORTFOLIO in text or RULE in text:
        # Reuse the sample user's first portfolio: creating one per invocation would soon hit the plan limit.
        existing = _request(invoker, "GET", "/portfolios", token=tokens["access_token"])["items"]
        portfolio = (
            existing[0]
            if existing
            else _request(
                invoker,
                "POST",
                "/portfolios",
                body={"name": "Sample", "wallets": [{"address": tokens["user"]["address"]}], "chains": [1, 8453]},
                token=tokens["access_token"],
            )
        )
        portfolio_id = int(portfolio["id"])
        # In JSON bodies the id is a number: `"..._NUMBER"` (quotes and all, escaped inside a body string).
        text = text.replace(f'\\"{PORTFOLIO}_NUMBER\\"', str(portfolio_id)).replace(PORTFOLIO, str(portfolio_id))
    if RULE in text:
        # Reuse the sample user's first rule, as with the portfolio (the free plan allows 3).
        rules = _request(invoker, "GET", "/rules", token=tokens["access_token"])["items"]
        rule = (
            rules[0]
            if rules
            else _request(
                invoker,
                "POST",
                "/rules",
                body={
                    "name": "Sample: health factor below 1.3",
                    "portfolio_id": portfolio_id,
                    "trigger": {"type": "health_factor_below", "threshold": 1.3},
                    "actions": [{"type": "notify"}],
                    "cadence_seconds": 300,
                },
                token=tokens["access_token"],
            )
        )
        text = text.replace(RULE, str(rule["id"]))
    text = text.replace(ACCESS, tokens["access_token"]).replace(REFRESH, tokens["refresh_token"])
    prepared: dict[str, Any] = json.loads(text)
    return prepared
