from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from tidewatch.db import Database
from tidewatch.portfolios.positions import Position, PositionReading, SourceStatus

from .conftest import ManualClock
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration

VITALIK = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"
OTHER = "0x71C7656EC7ab88b098defB751B7401B5f6d8976F"


class FakePositions:
    """Stands in for the chain data layer: fixed positions, counts reads, can be made to fail."""

    def __init__(self) -> None:
        self.reads: list[tuple[list[int], list[str]]] = []
        self.fail = False

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        if self.fail:
            raise ConnectionError("rpc down")
        self.reads.append((list(chain_ids), list(addresses)))
        as_of = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
        positions = [
            Position(
                chain_id=1,
                protocol="aave-v3",
                address=a,
                market="0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",
                asset_symbol="USDC",
                asset_decimals=6,
                supplied=1_500_000_000,
                borrowed=500_000_000,
                supplied_usd=Decimal("1500.00"),
                borrowed_usd=Decimal("500.00"),
                supply_apy=Decimal("0.0345"),
                borrow_apy=Decimal("0.051"),
                health_factor=Decimal("2.4"),
            )
            for a in addresses
        ]
        sources = [
            SourceStatus(chain_id=c, protocol="aave-v3", as_of=as_of, block_number=21_000_000) for c in chain_ids
        ]
        return PositionReading(positions=positions, sources=sources)


@pytest.fixture
def positions() -> FakePositions:
    return FakePositions()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def app_client(make_deps: Callable[..., ApiDeps], positions: FakePositions, clock: ManualClock) -> TestClient:
    return TestClient(create_app(make_deps(positions=positions, clock=clock)), raise_server_exceptions=False)


def signed_in(client: TestClient, seed: int, now: float) -> dict[str, str]:
    return {"Authorization": "Bearer " + Wallet(seed=seed).sign_in(client, now=now)["access_token"]}


def test_create_read_update_delete(app_client: TestClient, clock: ManualClock) -> None:
    auth = signed_in(app_client, 30, clock())
    # When a portfolio is created with a lower-case address
    created = app_client.post(
        "/portfolios",
        json={"name": "Main", "wallets": [{"address": VITALIK.lower(), "label": "hot"}], "chains": [8453, 1]},
        headers=auth,
    )
    # Then it is stored checksummed, chains sorted, with a Location
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["wallets"] == [{"address": VITALIK, "label": "hot"}]
    assert body["chains"] == [1, 8453]
    assert created.headers["location"] == f"/portfolios/{body['id']}"
    # And it can be renamed and its wallets replaced
    patched = app_client.patch(
        f"/portfolios/{body['id']}", json={"name": "Renamed", "wallets": [{"address": OTHER}]}, headers=auth
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert [w["address"] for w in patched.json()["wallets"]] == [OTHER]
    assert patched.json()["chains"] == [1, 8453]
    # And deleted, after which it is gone
    assert app_client.delete(f"/portfolios/{body['id']}", headers=auth).status_code == 204
    assert app_client.get(f"/portfolios/{body['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "wallets": []}, "name"),
        ({"name": "x", "wallets": [{"address": "0x1234"}]}, "wallets.0.address"),
        ({"name": "x", "wallets": [{"address": VITALIK.replace("d8dA", "D8dA")}]}, "wallets.0.address"),
        ({"name": "x", "wallets": [{"address": VITALIK}, {"address": VITALIK.lower()}]}, "wallets"),
        ({"name": "x", "chains": [56]}, "chains"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_invalid_portfolios_get_422_naming_the_field(
    app_client: TestClient, clock: ManualClock, payload: dict[str, Any], field: str
) -> None:
    auth = signed_in(app_client, 31, clock())
    response = app_client.post("/portfolios", json=payload, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def test_another_users_portfolio_answers_404_and_cannot_be_changed(
    app_client: TestClient, clock: ManualClock, db: Database
) -> None:
    # Given Alice's portfolio
    alice = signed_in(app_client, 32, clock())
    bob = signed_in(app_client, 33, clock())
    pid = app_client.post(
        "/portfolios", json={"name": "Alice", "wallets": [{"address": VITALIK}]}, headers=alice
    ).json()["id"]
    # When Bob reads, lists, changes, deletes or asks its history
    attempts = [
        app_client.get(f"/portfolios/{pid}", headers=bob),
        app_client.patch(f"/portfolios/{pid}", json={"name": "mine"}, headers=bob),
        app_client.delete(f"/portfolios/{pid}", headers=bob),
        app_client.get(f"/portfolios/{pid}/history", headers=bob),
    ]
    # Then every answer is a 404 problem that says nothing about it
    for response in attempts:
        assert response.status_code == 404
        assert response.json()["type"].endswith("/not-found")
        assert "Alice" not in response.text
    assert app_client.get("/portfolios", headers=bob).json()["items"] == []
    # And Alice's portfolio is untouched
    assert app_client.get(f"/portfolios/{pid}", headers=alice).json()["portfolio"]["name"] == "Alice"


def test_list_is_paginated_by_cursor(app_client: TestClient, clock: ManualClock, db: Database) -> None:
    auth = signed_in(app_client, 34, clock())
    # A pro user: five portfolios are beyond the free plan's limit.
    with db.connection() as conn:
        conn.execute("UPDATE users SET plan = 'pro'")
    ids = [app_client.post("/portfolios", json={"name": f"p{i}"}, headers=auth).json()["id"] for i in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = app_client.get("/portfolios", params=params, headers=auth).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = app_client.get("/portfolios", params={"cursor": "!!nope"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


def test_view_has_positions_totals_staleness_and_no_fake_risk(
    app_client: TestClient, clock: ManualClock, positions: FakePositions
) -> None:
    auth = signed_in(app_client, 35, clock())
    pid = app_client.post(
        "/portfolios", json={"name": "Main", "wallets": [{"address": VITALIK}, {"address": OTHER}]}, headers=auth
    ).json()["id"]
    # When the portfolio is viewed
    view = app_client.get(f"/portfolios/{pid}", headers=auth)
    # Then positions come from the data layer with exact amounts and USD totals
    assert view.status_code == 200
    body = view.json()
    assert len(body["positions"]) == 2
    assert body["positions"][0]["supplied"] == 1_500_000_000
    assert Decimal(body["totals"]["net_worth_usd"]) == Decimal("2000.00")
    assert Decimal(body["totals"]["min_health_factor"]) == Decimal("2.4")
    assert {(s["chain_id"], s["stale"]) for s in body["sources"]} == {(1, False), (8453, False)}
    assert body["cache"]["source"] == "origin"
    # And no risk forecast is invented while the risk function is not wired
    assert body.get("risk") is None
    # When viewed again, it is served from the cache (one read of the data layer)
    again = app_client.get(f"/portfolios/{pid}", headers=auth).json()
    assert again["cache"]["source"] == "cache"
    assert len(positions.reads) == 1


def test_view_serves_stale_positions_when_the_data_layer_fails(
    app_client: TestClient, clock: ManualClock, positions: FakePositions
) -> None:
    auth = signed_in(app_client, 36, clock())
    pid = app_client.post("/portfolios", json={"name": "Main", "wallets": [{"address": VITALIK}]}, headers=auth).json()[
        "id"
    ]
    app_client.get(f"/portfolios/{pid}", headers=auth)
    # When the cache entry is old and the chain layer is down
    clock.advance(120)
    positions.fail = True
    view = app_client.get(f"/portfolios/{pid}", headers=auth)
    # Then the last positions are served, marked stale with their age
    assert view.status_code == 200
    assert view.json()["cache"]["source"] == "stale"
    assert view.json()["cache"]["age_seconds"] >= 120


def test_each_view_is_a_snapshot_in_history(app_client: TestClient, clock: ManualClock) -> None:
    auth = signed_in(app_client, 37, clock())
    pid = app_client.post("/portfolios", json={"name": "Main", "wallets": [{"address": VITALIK}]}, headers=auth).json()[
        "id"
    ]
    for _ in range(3):
        app_client.get(f"/portfolios/{pid}", headers=auth)
        clock.advance(60)
    page = app_client.get(f"/portfolios/{pid}/history", params={"limit": 2}, headers=auth).json()
    assert len(page["items"]) == 2
    assert page["items"][0]["taken_at"] > page["items"][1]["taken_at"]
    assert Decimal(page["items"][0]["net_worth_usd"]) == Decimal("1000.00")
    rest = app_client.get(f"/portfolios/{pid}/history", params={"cursor": page["next_cursor"]}, headers=auth).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None


def test_markets_list_with_latest_rates(app_client: TestClient, clock: ManualClock, db: Database) -> None:
    # Given two markets, one with two observations
    with db.connection() as conn:
        ids = [
            conn.execute(
                "INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals) "
                "VALUES (%s, %s, %s, 'USDC', '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 6) RETURNING id",
                (chain, protocol, key),
            ).fetchone()["id"]  # type: ignore[index]
            for chain, protocol, key in [(1, "aave-v3", "0xaa"), (8453, "compound-v3", "0xbb")]
        ]
        for block, apy in [(100, "0.03"), (101, "0.035")]:
            conn.execute(
                "INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, total_supplied) "
                "VALUES (%s, %s, now() + %s * interval '1 second', %s, 123456789012345678901234567890)",
                (ids[0], block, block, apy),
            )
    auth = signed_in(app_client, 38, clock())
    # When markets on chain 1 are listed
    page = app_client.get("/markets", params={"chain_id": 1}, headers=auth).json()
    # Then the latest observation is attached with exact amounts
    assert [m["id"] for m in page["items"]] == [ids[0]]
    latest = page["items"][0]
    assert latest["block_number"] == 101
    assert Decimal(latest["supply_apy"]) == Decimal("0.035")
    assert latest["total_supplied"] == "123456789012345678901234567890"
    # And a market without observations has none (and is stale), and unknown ids are 404
    empty = app_client.get(f"/markets/{ids[1]}", headers=auth).json()
    assert empty["block_number"] is None
    assert empty["stale"] is True
    assert app_client.get("/markets/999999", headers=auth).status_code == 404


def test_a_new_wallet_starts_a_history_backfill_and_the_chart_says_how_far_back_it_goes(
    app_client: TestClient, clock: ManualClock, db: Database
) -> None:
    # Given a portfolio just created with one wallet on Ethereum
    auth = signed_in(app_client, 33, clock())
    pid = app_client.post(
        "/portfolios", json={"name": "Main", "wallets": [{"address": VITALIK}], "chains": [1]}, headers=auth
    ).json()["id"]

    # When its chart is asked for before the backfill ran
    early = app_client.get(f"/portfolios/{pid}/history/chart", headers=auth)

    # Then it says a backfill of the wallet is running and there is no history yet
    assert early.status_code == 200, early.text
    body = early.json()
    assert body["backfill_running"] is True
    assert body["first_timestamp"] is None
    assert [(b["address"], b["chain_id"], b["status"]) for b in body["backfills"]] == [(VITALIK.lower(), 1, "running")]

    # When the backfill has stored three hours (one missing between them) and finished
    now = datetime.fromtimestamp(clock(), UTC).replace(minute=0, second=0, microsecond=0)
    with db.transaction() as conn:
        for hours_ago, worth in ((5, 900), (4, 950), (2, 1000)):
            at = now - timedelta(hours=hours_ago)
            conn.execute(
                """INSERT INTO address_history (chain_id, address, bucket_start, block_number, observed_at,
                       supplied_usd, borrowed_usd, net_worth_usd, min_health_factor, positions)
                   VALUES (1, %s, %s, %s, %s, %s, 500, %s, 2.5, '[]')""",
                (VITALIK.lower(), at, 100 - hours_ago, at, worth + 500, worth),
            )
        conn.execute("UPDATE backfill_jobs SET status = 'done'")
    chart = app_client.get(f"/portfolios/{pid}/history/chart", params={"bucket": "hour"}, headers=auth).json()

    # Then the chart starts at the first stored hour, names the gap and no backfill runs
    assert chart["backfill_running"] is False
    assert datetime.fromisoformat(chart["first_timestamp"]) == now - timedelta(hours=5)
    assert [Decimal(p["net_worth_usd"]) for p in chart["points"]] == [900, 950, 1000]
    gaps = [(datetime.fromisoformat(g["start"]), g["buckets"]) for g in chart["gaps"]]
    assert gaps == [(now - timedelta(hours=3), 1), (now - timedelta(hours=1), 1)]
