"""The ingest tick on anvil with real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis

from ingest.logic import run_tick
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.events import ScheduledEvent
from tidewatch.marketfeed import InMemoryPublisher, latest_market
from tidewatch_local.devnet import Simulator

from .conftest import AnvilDevnet, CountingTransport

pytestmark = pytest.mark.integration


def _event() -> ScheduledEvent:
    return ScheduledEvent.model_validate(
        {
            "id": "tick-1",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": datetime(2026, 11, 24, 12, 0, tzinfo=UTC).isoformat(),
        }
    )


def _count(db: Database, table: str) -> int:
    with db.connection() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
        return int(row["n"]) if row else 0


def test_tick_records_caches_and_announces_then_a_rerun_writes_nothing(
    anvil_devnet: AnvilDevnet,
    http_client: Callable[..., tuple[ChainClient, CountingTransport]],
    db: Database,
    redis_client: redis.Redis,
) -> None:
    # Given the seeded devnet and empty stores
    client, transport = http_client()
    publisher = InMemoryPublisher()
    tick = lambda: run_tick(  # noqa: E731
        _event(),
        database=db,
        redis=redis_client,
        registry=anvil_devnet.registry,
        clients={anvil_devnet.chain_id: client},
        publisher=publisher,
    )

    # When the tick runs
    first = tick()
    n = len(anvil_devnet.registry.chains[0].markets)

    # Then every market got one row, in 2 HTTP round trips for the chain
    chain = first.chains[0]
    assert chain.error is None
    assert chain.failed_markets == []
    assert chain.markets_read == n
    assert chain.rows_inserted == n
    assert transport.requests == 2
    assert _count(db, "markets") == n
    assert _count(db, "market_rates") == n
    # ... the hot cache holds each market's latest snapshot with a TTL
    usdc = anvil_devnet.deployment.tokens["USDC"]
    cached = latest_market(redis_client, anvil_devnet.chain_id, "aave-v3", usdc)
    assert cached is not None
    assert cached["block_number"] == chain.block_number
    with db.connection() as conn:
        row = conn.execute(
            "SELECT r.utilization FROM market_rates r JOIN markets m ON m.id = r.market_id WHERE m.market_key = %s",
            (usdc,),
        ).fetchone()
    assert row is not None
    assert abs(Decimal(cached["utilization"]) - row["utilization"]) <= Decimal("1e-12")
    key = f"tw:market:{anvil_devnet.chain_id}:aave-v3:{usdc.lower()}"
    assert 0 < redis_client.ttl(key) <= 180
    # ... and one "market changed" event per market (nothing was known before)
    assert len(publisher.events) == n
    assert {e.block_number for e in publisher.events} == {chain.block_number}

    # When the same tick runs again at the same block
    second = tick()

    # Then no duplicate rows and no new events
    assert second.chains[0].block_number == chain.block_number
    assert second.chains[0].rows_inserted == 0
    assert _count(db, "market_rates") == n
    assert len(publisher.events) == n

    # When the simulator moves the markets and the tick runs again
    Simulator(anvil_devnet.node.url, anvil_devnet.deployment, seed=7).step()
    third = tick()

    # Then a new block's rows are appended and only markets whose numbers moved are announced
    assert third.chains[0].block_number > chain.block_number  # type: ignore[operator]
    assert third.chains[0].rows_inserted == n
    assert _count(db, "market_rates") == 2 * n
    moved = publisher.events[n:]
    assert 1 <= len(moved) < n
    assert all(e.previous is not None for e in moved)
    with db.connection() as conn:
        prices = conn.execute("SELECT count(*) AS n FROM asset_prices").fetchone()
    assert prices is not None
    assert prices["n"] > 0


def test_a_chain_whose_rpc_is_down_is_reported_and_nothing_is_written(
    anvil_devnet: AnvilDevnet,
    http_client: Callable[..., tuple[ChainClient, CountingTransport]],
    db: Database,
    redis_client: redis.Redis,
) -> None:
    # Given only dead RPC URLs
    client, _ = http_client(["http://127.0.0.1:9/rpc"])
    # When the tick runs
    result = run_tick(
        _event(),
        database=db,
        redis=redis_client,
        registry=anvil_devnet.registry,
        clients={anvil_devnet.chain_id: client},
        publisher=InMemoryPublisher(),
    )
    # Then the chain error names the chain and nothing was recorded
    assert result.chains[0].error is not None
    assert f"chain {anvil_devnet.chain_id}" in result.chains[0].error
    assert _count(db, "market_rates") == 0
