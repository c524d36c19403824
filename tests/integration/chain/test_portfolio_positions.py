"""The API's chain-backed position source on the devnet: real balances, USD, APYs and freshness."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis

from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.portfolios.chain_source import ChainPositionSource
from tidewatch.protocols.positions import positions_cache

from .conftest import AnvilDevnet

pytestmark = pytest.mark.integration


def test_positions_of_a_seeded_user_come_from_chain_with_health_factor(
    anvil_devnet: AnvilDevnet, db: Database, redis_client: redis.Redis
) -> None:
    # Given the seeded borrower near liquidation, and the market history ingest would have written
    bob = next(u.address for u in anvil_devnet.registry.users if u.label == "bob-near-liquidation")
    chain = anvil_devnet.chain_id
    client = ChainClient(chain, [anvil_devnet.node.url])
    source = ChainPositionSource(
        anvil_devnet.registry, {chain: client}, positions_cache(redis_client), db, clock=time.time
    )
    # When the API reads the portfolio's positions on that chain
    reading = source.read([chain], [bob])
    # Then there is an Aave debt and collateral, exact in base units, with USD values and the HF
    aave = [p for p in reading.positions if p.protocol == "aave-v3"]
    assert any(p.borrowed > 0 for p in aave)
    assert any(p.supplied > 0 for p in aave)
    assert all(p.address == bob for p in aave)
    health = {p.health_factor for p in aave}
    assert len(health) == 1
    (hf,) = health
    assert hf is not None
    assert Decimal("1") < hf < Decimal("1.2"), hf
    assert all(p.supplied_usd >= 0 and p.borrowed_usd >= 0 for p in aave)
    # And every protocol on the chain reports fresh data at one block
    assert {(s.chain_id, s.protocol) for s in reading.sources} == {
        (chain, "aave-v3"),
        (chain, "compound-v3"),
        (chain, "eigenlayer"),
    }
    assert all(not s.stale and s.block_number for s in reading.sources)


def test_a_dead_rpc_serves_the_last_positions_marked_stale(
    anvil_devnet: AnvilDevnet, db: Database, redis_client: redis.Redis
) -> None:
    # Given positions read once (and cached) with a 0-second TTL, so the next read goes to the chain
    bob = next(u.address for u in anvil_devnet.registry.users if u.label == "bob-near-liquidation")
    chain = anvil_devnet.chain_id
    cache = positions_cache(redis_client, ttl_seconds=0.0)
    live = ChainPositionSource(
        anvil_devnet.registry, {chain: ChainClient(chain, [anvil_devnet.node.url])}, cache, db, clock=time.time
    )
    first = live.read([chain], [bob])
    # When the RPC is unreachable
    dead = ChainClient(chain, ["http://127.0.0.1:9"], timeout=0.5)
    reading = ChainPositionSource(anvil_devnet.registry, {chain: dead}, cache, db, clock=time.time).read([chain], [bob])
    # Then the same positions are served, and every source says it is stale
    assert [p.supplied for p in reading.positions] == [p.supplied for p in first.positions]
    assert reading.sources
    assert all(s.stale for s in reading.sources)


def test_risk_forecast_per_account_through_the_risk_function(
    anvil_devnet: AnvilDevnet, db: Database, redis_client: redis.Redis
) -> None:
    # Given ingested markets (thresholds and prices) and the chain positions of a healthy user and
    # of the user near liquidation
    from datetime import UTC, datetime

    from ingest.logic import run_tick
    from tidewatch.events import ScheduledEvent
    from tidewatch.forecast.client import RiskFunctionClient
    from tidewatch.invoke import InProcessInvoker
    from tidewatch.marketfeed import InMemoryPublisher
    from tidewatch.portfolios.risk_forecaster import RiskFunctionForecaster

    chain = anvil_devnet.chain_id
    client = ChainClient(chain, [anvil_devnet.node.url])
    event = ScheduledEvent.model_validate(
        {"id": "t", "detail-type": "Scheduled Event", "source": "aws.events", "time": datetime.now(UTC).isoformat()}
    )
    run_tick(
        event,
        database=db,
        redis=redis_client,
        registry=anvil_devnet.registry,
        clients={chain: client},
        publisher=InMemoryPublisher(),
    )
    source = ChainPositionSource(
        anvil_devnet.registry, {chain: client}, positions_cache(redis_client), db, clock=time.time
    )
    users = {u.label: u.address for u in anvil_devnet.registry.users}
    forecaster = RiskFunctionForecaster(db, RiskFunctionClient(InProcessInvoker()))
    # When each user's positions are scored by the risk function
    risky = forecaster.forecast(source.read([chain], [users["bob-near-liquidation"]]).positions)
    healthy = forecaster.forecast(source.read([chain], [users["alice-healthy"]]).positions)
    # Then every indebted account has a 24 h and 7 d forecast, and the one near liquidation is riskier
    bob_aave = next(a for a in risky["accounts"] if a["protocol"] == "aave-v3")  # type: ignore[attr-defined]
    assert set(bob_aave["by_horizon"]) == {"24", "168"}
    assert bob_aave["band"] in ("high", "critical")
    assert bob_aave["by_horizon"]["168"]["probability"] >= bob_aave["probability"]
    alice = [a for a in healthy["accounts"] if a["protocol"] == "aave-v3"]  # type: ignore[attr-defined]
    assert all(a["probability"] < bob_aave["probability"] for a in alice)
    assert all(a["distance_to_liquidation"] > 0 for a in alice)
