"""GET /positions/{address}: any address's positions, through the configured PositionSource."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from tidewatch.portfolios.positions import Position, PositionReading, SourceStatus

from .conftest import ManualClock
from .siwe_wallet import Wallet

pytestmark = pytest.mark.integration
VITALIK = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"


class RecordingSource:
    def __init__(self) -> None:
        self.calls: list[tuple[list[int], list[str]]] = []

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        self.calls.append((list(chain_ids), list(addresses)))
        return PositionReading(
            positions=[
                Position(
                    chain_id=chain_ids[0],
                    protocol="aave-v3",
                    address=addresses[0],
                    market="0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",
                    asset_symbol="USDC",
                    asset_decimals=6,
                    supplied=1_000_000,
                )
            ],
            sources=[SourceStatus(chain_id=chain_ids[0], protocol="aave-v3", as_of=datetime.now(UTC))],
        )


def test_positions_of_an_address_are_read_for_the_requested_chains(make_deps: Callable[..., ApiDeps]) -> None:
    # Given a signed-in user and a position source
    clock = ManualClock(datetime.now(UTC).timestamp())
    source = RecordingSource()
    client = TestClient(create_app(make_deps(positions=source, clock=clock)), raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {Wallet(seed=61).sign_in(client, now=clock())['access_token']}"}
    # When an all-lower-case address is asked for on Base
    response = client.get(f"/positions/{VITALIK.lower()}", params={"chain_id": 8453}, headers=auth)
    # Then the source is read for that chain with the checksummed address
    assert response.status_code == 200, response.text
    assert source.calls == [([8453], [VITALIK])]
    assert response.json()["positions"][0]["supplied"] == 1_000_000
    # And a malformed address or an unsupported chain is a 422 naming the field
    bad = client.get("/positions/0x1234", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "address"
    unsupported = client.get(f"/positions/{VITALIK}", params={"chain_id": 10}, headers=auth)
    assert unsupported.status_code == 422
    assert unsupported.json()["errors"][0]["field"] == "chain_id"
    # And without a token anyone may look at the same address (on-chain positions are public)
    anonymous = client.get(f"/positions/{VITALIK}", params={"chain_id": 8453})
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json()["positions"][0]["supplied"] == 1_000_000


class FailingSource:
    """Every chain failed and nothing was cached (as `ChainPositionSource` reports it)."""

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        now = datetime.now(UTC)
        return PositionReading(
            positions=[],
            sources=[
                SourceStatus(
                    chain_id=c, protocol="aave-v3", as_of=now, stale=True, error=f"chain {c}: RPC circuit open"
                )
                for c in chain_ids
            ],
        )


def test_positions_with_every_chain_down_and_nothing_cached_are_a_503_problem(
    make_deps: Callable[..., ApiDeps],
) -> None:
    # Given a signed-in user and chains that all fail with nothing cached
    clock = ManualClock(datetime.now(UTC).timestamp())
    client = TestClient(create_app(make_deps(positions=FailingSource(), clock=clock)), raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {Wallet(seed=62).sign_in(client, now=clock())['access_token']}"}
    # When positions are asked for
    response = client.get(f"/positions/{VITALIK}", headers=auth)
    # Then the answer is a clean 503 problem naming the chains, not an empty list that reads as "none"
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/chain-unavailable")
    assert body["chain_ids"] == [1, 8453]
