"""The production read path over HTTP against anvil: failover, constant round trips, cached positions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import redis
from eth_account import Account
from web3 import Web3

from tidewatch.cache import CacheAside
from tidewatch.chain import abi
from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.positions import get_positions, positions_cache
from tidewatch.protocols.reader import read_markets

from .conftest import AnvilDevnet, CountingTransport

pytestmark = pytest.mark.integration

DEAD_URL = "http://127.0.0.1:9/rpc"  # discard port: connection refused


def test_failover_to_the_second_url_over_http(
    anvil_devnet: AnvilDevnet, http_client: Callable[..., tuple[ChainClient, CountingTransport]]
) -> None:
    # Given a dead first URL and anvil second
    client, transport = http_client([DEAD_URL, anvil_devnet.node.url])
    # When reading every market twice
    read_markets(client, anvil_devnet.registry.chains[0])
    result = read_markets(client, anvil_devnet.registry.chains[0])
    # Then anvil answered; the dead URL was tried once, then the client stuck to the live one
    assert len(result.snapshots) == len(anvil_devnet.registry.chains[0].markets)
    assert transport.by_url == {DEAD_URL: 1, anvil_devnet.node.url: 4}


# Up to ~500 markets: beyond that the batch body (every Comet reads all 24 asset slots and every
# collateral's feed) passes anvil's 2 MB request limit and the client falls back to one request
# per call (see docs/protocols.md). The in-process test goes to 1,300 markets.
@pytest.mark.parametrize("copies", [1, 10, 40])
def test_http_round_trips_per_tick_are_constant(
    anvil_devnet: AnvilDevnet, http_client: Callable[..., tuple[ChainClient, CountingTransport]], copies: int
) -> None:
    # Given the devnet's markets, 10 or 100 times over
    base = anvil_devnet.registry.chains[0]
    chain = base.model_copy(update={"markets": base.markets * copies})
    client, transport = http_client()
    # When they are all read
    result = read_markets(client, chain)
    # Then it took 2 HTTP requests, all reads at one block
    assert len(result.snapshots) == len(base.markets) * copies
    assert transport.requests == 2
    assert {s.block_number for s in result.snapshots} == {result.block.number}


def test_positions_are_cached_for_30_seconds_and_served_stale_when_the_rpc_fails(
    anvil_devnet: AnvilDevnet,
    http_client: Callable[..., tuple[ChainClient, CountingTransport]],
    redis_client: redis.Redis,
) -> None:
    bob = next(u.address for u in anvil_devnet.registry.users if u.label == "bob-near-liquidation")
    now = [1_000.0]
    cache = CacheAside(redis_client, "positions", ttl_seconds=30, clock=lambda: now[0])
    client, transport = http_client()
    clients = {anvil_devnet.chain_id: client}

    # When read for the first time: from the chain
    first = get_positions(bob, registry=anvil_devnet.registry, clients=clients, cache=cache)
    assert first.chains[0].source == "origin"
    # bob's Aave and Compound positions, each with a health factor
    assert {p.protocol for p in first.chains[0].positions} == {"aave-v3", "compound-v3"}
    assert all(p.health_factor is not None for p in first.chains[0].positions)
    aave = next(p for p in first.chains[0].positions if p.protocol == "aave-v3")
    assert aave.health_factor is not None
    assert aave.health_factor < Decimal("1.1")

    # Within 30 s: from the cache, no RPC
    now[0] += 29
    requests = transport.requests
    second = get_positions(bob, registry=anvil_devnet.registry, clients=clients, cache=cache)
    assert second.chains[0].source == "cache"
    assert transport.requests == requests

    # After 30 s with the RPC down: the last value, marked stale with its age
    now[0] += 60
    dead, _ = http_client([DEAD_URL])
    third = get_positions(bob, registry=anvil_devnet.registry, clients={anvil_devnet.chain_id: dead}, cache=cache)
    assert third.chains[0].stale is True
    assert third.chains[0].age_seconds == 89
    assert third.chains[0].positions == first.chains[0].positions

    # And with nothing cached, the failure is reported per chain (not raised)
    empty = positions_cache(None)
    fourth = get_positions(bob, registry=anvil_devnet.registry, clients={anvil_devnet.chain_id: dead}, cache=empty)
    assert fourth.chains == []
    assert f"chain {anvil_devnet.chain_id}" in fourth.errors[anvil_devnet.chain_id]


def test_seeded_user_can_sign_real_supply_borrow_repay_withdraw_transactions(
    anvil_devnet: AnvilDevnet, http_client: Callable[..., tuple[ChainClient, CountingTransport]]
) -> None:
    # Given alice's devnet key and raw EIP-1559 transactions built from the production ABIs
    alice = next(u for u in anvil_devnet.registry.users if u.label == "alice-healthy")
    account = Account.from_key(alice.private_key)
    w3 = Web3(Web3.HTTPProvider(anvil_devnet.node.url))
    pool = anvil_devnet.deployment.contracts["aave_pool"]
    usdc = anvil_devnet.deployment.tokens["USDC"]
    client, _ = http_client()

    def send(to: str, data: bytes) -> None:
        tx = {
            "chainId": anvil_devnet.chain_id,
            "from": account.address,
            "to": to,
            "data": data,
            "value": 0,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        tx["gas"] = w3.eth.estimate_gas(tx) * 12 // 10  # type: ignore[arg-type]  # safety margin
        signed = account.sign_transaction(tx)
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
        assert receipt["status"] == 1

    def account_data() -> tuple[int, ...]:
        raw = client.eth_call(pool, abi.AAVE_GET_USER_ACCOUNT_DATA.encode(account.address))
        return abi.AAVE_GET_USER_ACCOUNT_DATA.decode(raw)

    collateral_before, debt_before = account_data()[:2]
    # When alice approves + supplies 1,000 USDC, borrows 500, repays 200 and withdraws 100
    send(usdc, abi.ERC20_APPROVE.encode(pool, 2**256 - 1))
    send(pool, abi.AAVE_SUPPLY.encode(usdc, 1_000 * 10**6, account.address, 0))
    send(pool, abi.AAVE_BORROW.encode(usdc, 500 * 10**6, 2, 0, account.address))
    send(pool, abi.AAVE_REPAY.encode(usdc, 200 * 10**6, 2, account.address))
    send(pool, abi.AAVE_WITHDRAW.encode(usdc, 100 * 10**6, account.address))
    # Then the pool's account data moved by those amounts (USD, 8 decimals), plus the interest
    # the real Pool accrued on alice's existing supply and debt over those few seconds (< 1 cent).
    # The Pool stores balances scaled by the liquidity/borrow index and rounds each scaling half
    # up (WadRayMath.rayDiv), so each of the two operations on a side may land one USDC wei
    # (1e-6 USD = 100 base units) below the exact amount.
    rounding = 2 * 10**8 // 10**6
    collateral_after, debt_after = account_data()[:2]
    assert -rounding <= collateral_after - collateral_before - 900 * 10**8 < 10**6
    assert -rounding <= debt_after - debt_before - 300 * 10**8 < 10**6
