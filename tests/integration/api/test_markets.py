"""Markets routes: latest rates per market, one market, downsampled history, staleness."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from tidewatch.db import Database

from .conftest import ManualClock
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def signed_in(make_deps: Callable[..., ApiDeps], clock: ManualClock) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(create_app(make_deps(clock=clock)), raise_server_exceptions=False)
    tokens = Wallet(seed=21).sign_in(client, now=clock())
    return client, {"Authorization": f"Bearer {tokens['access_token']}"}


def _seed(db: Database, now: datetime) -> tuple[int, int]:
    with db.transaction() as conn:
        usdc = conn.execute(
            """INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)
               VALUES (1, 'aave-v3', '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 'USDC',
                       '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 6) RETURNING id"""
        ).fetchone()["id"]
        weth = conn.execute(
            """INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)
               VALUES (8453, 'compound-v3', '0x46e6b214b524310239732D51387075E0e70970bf', 'WETH',
                       '0x4200000000000000000000000000000000000006', 18) RETURNING id"""
        ).fetchone()["id"]
        # USDC: one reading a minute for two hours, APY rising 0.0001 a minute.
        for i in range(120):
            conn.execute(
                """INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy,
                       utilization, total_supplied, total_borrowed, price_usd)
                   VALUES (%s, %s, %s, %s, %s, 0.8, 2500000000000, 2000000000000, 1.0)""",
                (usdc, 1000 + i, now - timedelta(minutes=119 - i), 0.03 + i * 0.0001, 0.05 + i * 0.0001),
            )
        # WETH: a single reading an hour old (stale).
        conn.execute(
            """INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy,
                   utilization, total_supplied, total_borrowed, price_usd)
               VALUES (%s, 5, %s, 0.02, 0.04, 0.5, 10000000000000000000, 5000000000000000000, 3000)""",
            (weth, now - timedelta(hours=1)),
        )
    return usdc, weth


def test_market_list_shows_latest_rates_tvl_and_staleness(
    db: Database, signed_in: tuple[TestClient, dict[str, str]], clock: ManualClock
) -> None:
    # Given two markets with ingested history, one fresh and one an hour old
    client, auth = signed_in
    usdc, weth = _seed(db, datetime.fromtimestamp(clock(), UTC))
    # When the market list is requested
    response = client.get("/markets", headers=auth)
    # Then each market carries its latest reading, exact totals, TVL and whether it is stale
    assert response.status_code == 200
    body = response.json()
    by_id = {m["id"]: m for m in body["items"]}
    assert Decimal(by_id[usdc]["supply_apy"]) == Decimal("0.0419")
    assert by_id[usdc]["block_number"] == 1119
    assert by_id[usdc]["total_supplied"] == "2500000000000"
    assert Decimal(by_id[usdc]["tvl_usd"]) == Decimal("2500000.00")
    assert by_id[usdc]["stale"] is False
    assert by_id[weth]["stale"] is True
    assert Decimal(by_id[weth]["tvl_usd"]) == Decimal("30000.00")
    assert body["stale"] is False
    # And filters narrow the list
    only_base = client.get("/markets", params={"chain_id": 8453}, headers=auth).json()["items"]
    assert [m["id"] for m in only_base] == [weth]


def test_market_history_is_downsampled_into_buckets(
    db: Database, signed_in: tuple[TestClient, dict[str, str]], clock: ManualClock
) -> None:
    # Given two hours of minute readings
    client, auth = signed_in
    now = datetime.fromtimestamp(clock(), UTC)
    usdc, _ = _seed(db, now)
    # When the last two hours are asked for in at most 4 points
    response = client.get(
        f"/markets/{usdc}/history",
        params={
            "start": (now - timedelta(hours=2)).isoformat(),
            "end": (now + timedelta(seconds=1)).isoformat(),
            "points": 4,
        },
        headers=auth,
    )
    # Then the 120 readings are averaged into ~30-minute buckets that account for every sample
    assert response.status_code == 200
    body = response.json()
    assert body["bucket_seconds"] == 1800
    assert sum(p["samples"] for p in body["points"]) == 120
    assert 4 <= len(body["points"]) <= 5
    assert body["points"] == sorted(body["points"], key=lambda p: p["t"])


def test_hourly_history_states_its_first_timestamp_and_its_gaps(
    db: Database, signed_in: tuple[TestClient, dict[str, str]], clock: ManualClock
) -> None:
    # Given a market read hourly for 24 hours, except hours 5-6 (missed by ingest) and hour 9
    # (a backfill marked it unfillable: no block on the chain then)
    client, auth = signed_in
    now = datetime.fromtimestamp(clock(), UTC)
    top = now.replace(minute=0, second=0, microsecond=0)
    first = top - timedelta(hours=24)
    with db.transaction() as conn:
        market = conn.execute(
            """INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)
               VALUES (1, 'aave-v3', '0xdAC17F958D2ee523a2206206994597C13D831ec7', 'USDT',
                       '0xdAC17F958D2ee523a2206206994597C13D831ec7', 6) RETURNING id"""
        ).fetchone()["id"]
        for h in range(24):
            if h in (5, 6, 9):
                continue
            conn.execute(
                """INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy,
                       utilization, total_supplied, total_borrowed, price_usd)
                   VALUES (%s, %s, %s, 0.04, 0.06, 0.7, 1000000000000, 700000000000, 1.0)""",
                (market, 100 + h, first + timedelta(hours=h, minutes=3)),
            )
        conn.execute(
            """INSERT INTO backfill_buckets (chain_id, scope, bucket_start, status, detail)
               VALUES (1, 'markets', %s, 'unfillable', 'no block')""",
            (first + timedelta(hours=9),),
        )

    # When the last two days are asked for in hourly buckets
    response = client.get(
        f"/markets/{market}/history",
        params={"start": (top - timedelta(days=2)).isoformat(), "end": now.isoformat(), "bucket": "hour"},
        headers=auth,
    )

    # Then there is one point per hour read, the series' first timestamp, and the gaps since it
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bucket"] == "hour"
    assert body["bucket_seconds"] == 3600
    assert len(body["points"]) == 21
    assert Decimal(body["points"][0]["tvl_usd"]) == Decimal(1_000_000)
    assert datetime.fromisoformat(body["first_timestamp"]) == first + timedelta(minutes=3)
    gaps = [(datetime.fromisoformat(g["start"]), g["buckets"], g["reason"]) for g in body["gaps"]]
    assert gaps == [
        (first + timedelta(hours=5), 2, "missing"),
        (first + timedelta(hours=9), 1, "unfillable"),
    ]

    # And day buckets average the same readings into days
    daily = client.get(
        f"/markets/{market}/history",
        params={"start": (top - timedelta(days=2)).isoformat(), "end": now.isoformat(), "bucket": "day"},
        headers=auth,
    ).json()
    assert daily["bucket_seconds"] == 86400
    assert sum(p["samples"] for p in daily["points"]) == 21
    # ... and an unknown bucket is a validation problem
    bad = client.get(f"/markets/{market}/history", params={"bucket": "week"}, headers=auth)
    assert bad.status_code == 422


def test_market_errors_are_problems(db: Database, signed_in: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = signed_in
    missing = client.get("/markets/999", headers=auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    backwards = client.get(
        "/markets/1/history", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, headers=auth
    )
    assert backwards.status_code in (404, 422)


def test_market_data_is_public_and_rate_limited_per_ip(
    db: Database, signed_in: tuple[TestClient, dict[str, str]], clock: ManualClock
) -> None:
    # Given ingested markets and a visitor who has not signed in
    _seed(db, datetime.fromtimestamp(clock(), UTC))
    client, auth = signed_in
    signed = client.get("/markets", headers=auth).json()["items"]
    # When the visitor reads the list, one market and its history without a token
    listing = client.get("/markets")
    one = client.get(f"/markets/{signed[0]['id']}")
    history = client.get(f"/markets/{signed[0]['id']}/history")
    # Then each answers as it does for a signed-in user
    assert listing.status_code == 200, listing.text
    assert [m["id"] for m in listing.json()["items"]] == [m["id"] for m in signed]
    assert one.status_code == 200
    assert one.json()["id"] == signed[0]["id"]
    assert history.status_code == 200
    # And the per-IP bucket is spent (the limit headers say so)
    assert "ratelimit-remaining" in {k.lower() for k in listing.headers}


def test_markets_carry_a_24h_apy_outlook_and_thin_history_gets_persistence(
    make_deps: Callable[..., ApiDeps], db: Database, redis_client, clock: ManualClock
) -> None:
    # Given one market with two days of hourly history and one with a single reading
    from risk.deps import RiskDeps, load_models
    from risk.handler import handle
    from tidewatch.cache import CacheAside
    from tidewatch.forecast.client import RiskFunctionClient
    from tidewatch.invoke import InProcessInvoker
    from tidewatch.markets.service import RiskFunctionOutlooks

    now = datetime.fromtimestamp(clock(), UTC)
    usdc, weth = _seed(db, now)
    with db.connection() as conn:
        for hour in range(3, 50):
            conn.execute(
                """INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy, utilization)
                   VALUES (%s, %s, %s, 0.04, 0.06, 0.8)""",
                (usdc, 100 + hour, now - timedelta(hours=hour)),
            )
    models = load_models(None)
    # The risk function's handler over this database, reached through the invoker
    risk = RiskFunctionClient(InProcessInvoker({"risk": lambda event, context: handle(event, RiskDeps(models, db))}))
    outlooks = RiskFunctionOutlooks(risk, CacheAside(redis_client, "apy-outlooks", ttl_seconds=300))
    client = TestClient(create_app(make_deps(clock=clock, apy_outlooks=outlooks)), raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {Wallet(seed=22).sign_in(client, now=clock())['access_token']}"}
    # When the market list is requested
    items = {m["id"]: m for m in client.get("/markets", headers=auth).json()["items"]}
    # Then the market with history has an outlook with an interval around its point forecast:
    # Aave USDC is one the shipped supply 24 h head serves the rolling mean, and it says why
    outlook = items[usdc]["forecast"]
    assert outlook is not None
    assert outlook["lower"] <= outlook["predicted_apy"] <= outlook["upper"]
    assert outlook["label"] in ("stay", "fall")
    assert "aave-v3:1:USDC" in models.apy.head("supply", 24).rolling_mean_markets
    assert outlook["method"] == "rolling_mean"
    assert "rolling mean of the last 24 h beat the model" in outlook["method_reason"]
    # And the market with a single reading gets its current APY (persistence), saying why
    thin = items[weth]["forecast"]
    assert thin["method"] == "persistence"
    assert thin["predicted_apy"] == 0.02
    assert "of history" in thin["method_reason"]
