"""Reads against the in-process devnet: exact rates, health factors and balances, 2 round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tidewatch.protocols.rates import aave_ray_apr_to_apy, comet_rate_to_apy
from tidewatch.protocols.reader import read_markets, read_positions
from tidewatch.protocols.registry import ChainRegistry
from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.artifacts import artifact
from tidewatch_local.devnet.scenario import TOKENS, units

from .conftest import InProcessDevnet

RAY, WAD = 10**27, 10**18


# Aave's WadRayMath / PercentageMath, written out again for the hand computation.
def close(value: int | Decimal | None, expected: int | Decimal, rel: str = "1e-6") -> bool:
    """Equal to a relative `rel`: what seconds of Aave interest accrual leave of an exact value."""
    assert value is not None
    return abs(Decimal(value) - Decimal(expected)) <= abs(Decimal(expected)) * Decimal(rel)


def ray_mul(a: int, b: int) -> int:
    return (a * b + RAY // 2) // RAY


def ray_div(a: int, b: int) -> int:
    return (a * RAY + b // 2) // b


def percent_mul(v: int, p: int) -> int:
    return (v * p + 5_000) // 10_000


def aave_totals(symbol: str) -> tuple[int, int]:
    d = TOKENS[symbol].decimals
    supplied = scenario.AAVE_LIQUIDITY.get(symbol, 0) + scenario.WHALE_AAVE_COLLATERAL.get(symbol, 0)
    supplied += sum(u.aave_supply.get(symbol, 0) for u in scenario.USERS)
    borrowed = scenario.AAVE_WHALE_BORROWS.get(symbol, 0) + sum(u.aave_borrow.get(symbol, 0) for u in scenario.USERS)
    return units(supplied, d), units(borrowed, d)


def aave_rates_by_hand(r: scenario.AaveReserve) -> tuple[int, int]:
    supplied, borrowed = aave_totals(r.symbol)
    usage = ray_div(borrowed, supplied)
    if usage > r.optimal:
        borrow = r.base_rate + r.slope1 + ray_mul(r.slope2, ray_div(usage - r.optimal, RAY - r.optimal))
    else:
        borrow = r.base_rate + ray_div(ray_mul(r.slope1, usage), r.optimal)
    liquidity = percent_mul(ray_mul(borrow, usage), 10_000 - r.reserve_factor)
    return liquidity, borrow


def comet_rates_by_hand(devnet: InProcessDevnet, m: scenario.CometMarket) -> tuple[int, int, int]:
    """Comet's utilization (stored indexes x principal totals, 1e15 index scale) and its kinked
    per-second rates, recomputed from the contract's raw state."""
    comet = devnet.w3.eth.contract(address=devnet.deployment.contracts[f"comet_{m.name}"], abi=artifact("Comet")["abi"])
    supply_index, borrow_index, _, _, supply_base, borrow_base, _, _ = comet.functions.totalsBasic().call()
    supply = supply_base * supply_index // 10**15
    borrow = borrow_base * borrow_index // 10**15
    utilization = borrow * WAD // supply
    s_kink, s_low, s_high, s_base, b_kink, b_low, b_high, b_base = m.rates
    if utilization <= s_kink:
        supply_rate = s_base + s_low * utilization // WAD
    else:
        supply_rate = s_base + s_low * s_kink // WAD + s_high * (utilization - s_kink) // WAD
    if utilization <= b_kink:
        borrow_rate = b_base + b_low * utilization // WAD
    else:
        borrow_rate = b_base + b_low * b_kink // WAD + b_high * (utilization - b_kink) // WAD
    return utilization, supply_rate, borrow_rate


def test_every_market_at_one_block_with_rates_equal_to_the_hand_computed_ones(devnet: InProcessDevnet) -> None:
    # Given the seeded devnet
    client, transport = devnet.client()
    chain = devnet.registry.chains[0]
    # When every market is read
    result = read_markets(client, chain)
    # Then nothing failed, in 2 JSON-RPC round trips, all at one block
    assert result.failures == []
    assert client.round_trips == 2 == transport.requests
    assert {s.block_number for s in result.snapshots} == {result.block.number}
    by_key = {(s.protocol, s.asset_symbol): s for s in result.snapshots}

    # Aave (the real Pool, whose indexes accrue every second since seeding): the
    # DefaultReserveInterestRateStrategy rates at the seeded totals, to a millionth, and the APY
    # is exactly the ray APR compounded per second
    for r in scenario.AAVE_RESERVES:
        snap = by_key[("aave-v3", r.symbol)]
        liquidity_rate, borrow_rate = aave_rates_by_hand(r)
        supplied, borrowed = aave_totals(r.symbol)
        assert close(snap.raw["liquidity_rate_ray"], liquidity_rate)
        assert close(snap.raw["variable_borrow_rate_ray"], borrow_rate)
        assert snap.supply_apy == aave_ray_apr_to_apy(snap.raw["liquidity_rate_ray"])
        assert snap.borrow_apy == aave_ray_apr_to_apy(snap.raw["variable_borrow_rate_ray"])
        assert close(snap.total_supplied, supplied)
        assert close(snap.total_borrowed, borrowed)
        assert snap.price_usd == Decimal(TOKENS[r.symbol].price)
        assert snap.params["liquidation_threshold"] == Decimal(r.liquidation_threshold) / 10_000

    # The USDC numbers, spelled out: 80.044 % used -> 5.48 % borrow APY, 3.92 % supply APY
    usdc = by_key[("aave-v3", "USDC")]
    assert close(usdc.utilization, Decimal("0.80044"))
    assert Decimal("0.0548") < usdc.borrow_apy < Decimal("0.0549")  # type: ignore[operator]
    assert Decimal("0.0391") < usdc.supply_apy < Decimal("0.0392")  # type: ignore[operator]

    # Compound III: the protocol's own getSupplyRate/getBorrowRate at getUtilization
    for m in scenario.COMET_MARKETS:
        snap = next(s for s in result.snapshots if s.protocol == "compound-v3" and s.asset_symbol == m.base)
        utilization, supply_rate, borrow_rate = comet_rates_by_hand(devnet, m)
        assert snap.raw["utilization_e18"] == utilization
        assert snap.raw["supply_rate_per_second_e18"] == supply_rate
        assert snap.raw["borrow_rate_per_second_e18"] == borrow_rate
        assert snap.supply_apy == comet_rate_to_apy(supply_rate)
        assert snap.borrow_apy == comet_rate_to_apy(borrow_rate)
        assert [c["symbol"] for c in snap.params["collaterals"]] == [c.symbol for c in m.collaterals]

    # EigenLayer: total value = underlying held by each strategy
    steth = by_key[("eigenlayer", "stETH")]
    expected = scenario.EIGEN_LIQUIDITY["stETH"] + sum(u.eigen_deposits.get("stETH", 0) for u in scenario.USERS)
    assert steth.total_supplied == units(expected, 18)


def test_seeded_users_health_factors_and_balances_are_exact(devnet: InProcessDevnet) -> None:
    # Given the seeded users
    client, _ = devnet.client()
    chain = devnet.registry.chains[0]
    users = {u.label: u.address for u in devnet.registry.users}
    # When their positions are read
    result = read_positions(client, chain, list(users.values()))
    assert result.failures == []
    assert client.round_trips == 2
    positions = {(p.address, p.protocol): p for p in result.positions}

    # Then bob's Aave account is near liquidation: 5 WETH x $3000 x 83 % / $12,000 = 1.0375
    # (to a millionth: the real Pool accrues interest on both sides every second)
    bob = positions[(users["bob-near-liquidation"], "aave-v3")]
    assert close(bob.account["total_collateral_base"], 15_000 * 10**8)
    assert close(bob.account["total_debt_base"], 12_000 * 10**8)
    assert close(bob.account["health_factor_wad"], 1_037_500_000_000_000_000)
    assert bob.health_factor == Decimal(bob.account["health_factor_wad"]) / WAD
    assert [t.symbol for t in bob.supplied] == ["WETH"]
    assert close(bob.supplied[0].amount, 5 * 10**18)
    assert [t.symbol for t in bob.borrowed] == ["USDC"]
    assert close(bob.borrowed[0].amount, 12_000 * 10**6)
    # ... and on Compound III: 2 WETH x $3000 x 0.90 liquidate factor / debt; the debt is the
    # 4,800 USDC borrowed plus the interest accrued since (Comet's borrow index grows per second)
    bob_comet = positions[(users["bob-near-liquidation"], "compound-v3")]
    debt = bob_comet.account["base_borrowed"]
    assert 4_800 * 10**6 <= debt < 4_800 * 10**6 * 1_000_01 // 1_000_00
    assert bob_comet.health_factor == Decimal(5_400) / (Decimal(debt) / 10**6)
    assert Decimal("1.12498") < bob_comet.health_factor <= Decimal("1.125")
    assert [(t.symbol, t.amount) for t in bob_comet.collateral] == [("WETH", 2 * 10**18)]

    alice = positions[(users["alice-healthy"], "aave-v3")]
    assert close(alice.health_factor, Decimal("2.49"))
    alice_supplied = positions[(users["alice-healthy"], "compound-v3")].account["base_supplied"]
    # Comet stores supply as principal = amount / baseSupplyIndex and presents principal x index,
    # both truncated, so a fresh deposit can present one wei short before interest makes it up
    assert 5_000 * 10**6 - 1 <= alice_supplied < 5_000 * 10**6 * 1_000_01 // 1_000_00

    # EigenLayer: 32 stETH deposited -> 32e18 shares worth exactly 32 stETH
    carol = [p for p in result.positions if p.address == users["carol-staker"] and p.protocol == "eigenlayer"]
    assert {(p.supplied[0].symbol, p.account["withdrawable_shares"], p.supplied[0].amount) for p in carol} == {
        ("stETH", 32 * 10**18, 32 * 10**18),
        ("rETH", 10 * 10**18, 10 * 10**18),
    }


@pytest.mark.parametrize("copies", [1, 10, 100])
def test_round_trips_stay_at_two_as_markets_grow(devnet: InProcessDevnet, copies: int) -> None:
    # Given a registry with the devnet's markets repeated `copies` times (up to a hundred times as many)
    base = devnet.registry.chains[0]
    chain = base.model_copy(update={"markets": base.markets * copies})
    client, transport = devnet.client()
    # When every market is read with small aggregate3 chunks (many eth_calls per batch)
    result = read_markets(client, chain, chunk_size=200)
    # Then the whole read is 2 HTTP round trips, whatever the market count
    assert len(result.snapshots) == len(base.markets) * copies
    assert client.round_trips == 2 == transport.requests


def test_a_failing_market_fails_alone(devnet: InProcessDevnet) -> None:
    # Given a registry with one bogus Aave market (an asset the pool does not list)
    base = devnet.registry.chains[0]
    good = base.markets[0]
    bogus = good.model_copy(
        update={
            "asset": good.asset.model_copy(update={"address": devnet.deployment.tokens["stETH"], "symbol": "stETH"})
        }
    )  # type: ignore[union-attr]
    chain = ChainRegistry(
        chain_id=base.chain_id, name=base.name, multicall3=base.multicall3, markets=(bogus, *base.markets)
    )
    client, _ = devnet.client()
    # When reading
    result = read_markets(client, chain)
    # Then only the bogus market failed, with the revert reason, and the others were read
    assert len(result.failures) == 1
    assert result.failures[0].market_key == devnet.deployment.tokens["stETH"]
    assert "reverted" in result.failures[0].error
    assert len(result.snapshots) == len(base.markets)
    assert client.round_trips == 2
