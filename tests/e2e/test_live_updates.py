"""Live updates end to end: `tidewatch dev` with its devnet, a real WebSocket client.

A user signs in over HTTP, watches the seeded borrower near liquidation, creates a health-factor
rule that notifies, connects to the WebSocket with the access token and subscribes. The scheduled
ingest (every 2 s here) reads the moving devnet and pushes market updates; the rules tick fires
the rule and its notification arrives on the socket — and only on its owner's socket.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import pytest
import websockets
import websockets.exceptions

from .devserver import DevServer, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def ws_url(dev: DevServer, token: str) -> str:
    return f"ws://127.0.0.1:{dev.port}/ws?token={token}"


async def _receive_until(socket: Any, wanted: set[str], seconds: float) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    deadline = asyncio.get_running_loop().time() + seconds
    while not wanted <= seen.keys():
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=remaining))
        except TimeoutError:
            break
        seen.setdefault(str(message.get("type")), message)
    return seen


def test_a_bad_token_is_refused(dev: DevServer) -> None:
    async def attempt() -> None:
        async with websockets.connect(ws_url(dev, "not-a-token")):
            pass

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(attempt())


def test_market_updates_and_rule_notifications_arrive_live_and_only_for_their_owner(
    dev: DevServer, dev_database_url: str
) -> None:
    # Given a signed-in user watching the seeded borrower near liquidation (pro plan: 1-minute rules)
    owner = sign_in(dev.url, dev.port, seed=101)
    other = sign_in(dev.url, dev.port, seed=102)
    with psycopg.connect(dev_database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET plan = 'pro' WHERE address = %s", (owner["user"]["address"],))
    auth = {"Authorization": f"Bearer {owner['access_token']}"}
    bob = next(u["address"] for u in dev.registry["users"] if u["label"] == "bob-near-liquidation")
    portfolio = httpx.post(
        f"{dev.url}/api/portfolios",
        json={"name": "Watch bob", "wallets": [{"address": bob}], "chains": [1]},
        headers=auth,
    ).json()
    # And its positions seen once (the view records the snapshot the rules engine reads)
    view = httpx.get(f"{dev.url}/api/portfolios/{portfolio['id']}", headers=auth, timeout=30).json()
    assert view["totals"]["min_health_factor"] is not None
    # And a rule that notifies when the health factor is below 1.5
    rule = httpx.post(
        f"{dev.url}/api/rules",
        json={
            "name": "Bob is close",
            "portfolio_id": portfolio["id"],
            "trigger": {"type": "health_factor_below", "threshold": 1.5},
            "actions": [{"type": "notify", "title": "Health factor below 1.5", "severity": "critical"}],
            "cadence_seconds": 60,
            "cooldown_seconds": 3600,
        },
        headers=auth,
    )
    assert rule.status_code == 201, rule.text

    async def watch() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        async with (
            websockets.connect(ws_url(dev, owner["access_token"])) as mine,
            websockets.connect(ws_url(dev, other["access_token"])) as theirs,
        ):
            # When both subscribe (to markets and to their own notifications)
            for socket in (mine, theirs):
                for topic in ("markets", "notifications"):
                    await socket.send(json.dumps({"action": "subscribe", "topic": topic}))
            # Then the owner receives market updates and the rule's notification
            owner_seen = await _receive_until(mine, {"market", "notification"}, seconds=60)
            # And the other user sees market updates but never the owner's notification
            other_seen = await _receive_until(theirs, {"market"}, seconds=10)
            return owner_seen, other_seen

    owner_seen, other_seen = asyncio.run(watch())
    assert "market" in owner_seen, owner_seen
    assert "notification" in owner_seen, owner_seen
    assert owner_seen["notification"]["body"]["rule_id"] == rule.json()["id"]
    assert owner_seen["notification"]["title"] == "Health factor below 1.5"
    assert "market" in other_seen
    assert "notification" not in other_seen
