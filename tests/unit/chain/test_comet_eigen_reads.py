"""Compound III and EigenLayer reads against the in-process devnet: every collateral discovered,
the numéraire converted to USD, withdrawable shares after a slash, and faults flagged."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from web3 import Web3

from tidewatch.protocols.models import ChainPosition
from tidewatch.protocols.reader import read_markets, read_positions
from tidewatch.protocols.registry import ChainRegistry, CompoundV3Market
from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.artifacts import artifact

from .conftest import InProcessDevnet

WAD = 10**18


@pytest.fixture
def restore(devnet: InProcessDevnet) -> Iterator[None]:
    """Tests that change chain state put it back afterwards (a node snapshot)."""
    snapshot = devnet.snapshot()
    yield
    devnet.revert(snapshot)


def contract(devnet: InProcessDevnet, name: str, address: str) -> Any:
    return devnet.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])


def comet_market(chain: ChainRegistry, name: str) -> CompoundV3Market:
    return next(m for m in chain.markets if isinstance(m, CompoundV3Market) and m.name == name)


def position(
    devnet: InProcessDevnet, label: str, protocol: str, key: str, chain: ChainRegistry | None = None
) -> ChainPosition:
    client, _ = devnet.client()
    address = devnet.deployment.users[label]["address"]
    result = read_positions(client, chain or devnet.registry.chains[0], [address])
    assert [f for f in result.failures if not f.startswith("aave-v3:")] == []
    return next(p for p in result.positions if p.protocol == protocol and p.market_key.lower() == key.lower())


def deployer(devnet: InProcessDevnet) -> str:
    return devnet.deployment.operators["deployer"]


def test_a_borrower_on_a_collateral_the_registry_does_not_name_has_its_real_health_factor(
    devnet: InProcessDevnet,
) -> None:
    # Given erin, who borrows 20,000 USDC on cUSDCv3 against 10 wstETH, a collateral the
    # registry's hand list for cUSDCv3 does not name
    chain = devnet.registry.chains[0]
    market = comet_market(chain, "cUSDCv3")
    assert "wstETH" not in {c.symbol for c in market.collaterals}
    # When her position is read
    erin = position(devnet, "erin-wsteth-borrower", "compound-v3", market.comet)
    # Then the wstETH collateral is there, valued in USD, and the health factor counts it:
    # 10 x $3550 x 0.87 / debt (20,000 USDC plus accrued interest)
    assert [(c.symbol, c.amount, c.value_usd) for c in erin.collateral] == [("wstETH", 10 * WAD, Decimal(35_500))]
    debt = Decimal(erin.account["base_borrowed"]) / 10**6
    assert Decimal(20_000) <= debt < Decimal("20000.2")
    assert erin.health_factor == Decimal(10) * 3550 * Decimal("0.87") / debt
    # ... consistent with Comet's own isLiquidatable
    assert erin.account["is_liquidatable"] is False
    assert erin.warnings == []


def test_every_collateral_is_discovered_on_chain_with_its_factors_caps_and_prices(devnet: InProcessDevnet) -> None:
    client, _ = devnet.client()
    result = read_markets(client, devnet.registry.chains[0])
    assert result.failures == []
    for m in scenario.COMET_MARKETS:
        snap = next(s for s in result.snapshots if s.protocol == "compound-v3" and s.params["name"] == m.name)
        listed = snap.params["collaterals"]
        assert [c["symbol"] for c in listed] == [c.symbol for c in m.collaterals]
        assert len(listed) > len(m.hinted)
        for got, want in zip(listed, m.collaterals, strict=True):
            assert got["liquidate_collateral_factor"] == Decimal(want.liquidate_cf) / WAD
            assert got["borrow_collateral_factor"] == Decimal(want.borrow_cf) / WAD
            assert got["supply_cap"] == want.supply_cap * 10 ** scenario.TOKENS[want.symbol].decimals
            assert got["price_usd"] is not None
        decimals = scenario.TOKENS[m.base].decimals
        assert snap.params["base_borrow_min"] == scenario.units(m.base_borrow_min, decimals)
        assert snap.params["target_reserves"] == scenario.units(m.target_reserves, decimals)
        assert snap.params["paused"] == {"supply": False, "withdraw": False, "absorb": False, "buy": False}
        assert snap.warnings == []
    usdc = next(s for s in result.snapshots if s.params.get("name") == "cUSDCv3")
    assert len(usdc.params["collaterals"]) == 10
    wbtc = next(c for c in usdc.params["collaterals"] if c["symbol"] == "WBTC")
    assert wbtc["total_supplied"] == scenario.COMET_WHALE_COLLATERAL["cUSDCv3"]["WBTC"] * 10**8


def test_the_weth_market_is_priced_in_eth_and_valued_at_the_eth_price(devnet: InProcessDevnet) -> None:
    # Given cWETHv3, whose base feed is a constant 1e8 and whose collateral feeds are X/ETH
    chain = devnet.registry.chains[0]
    market = comet_market(chain, "cWETHv3")
    client, _ = devnet.client()
    snap = next(s for s in read_markets(client, chain).snapshots if s.market_key == market.comet)
    # Then WETH is shown at the ETH/USD reference ($3000), not at $1
    assert snap.params["base_price_numeraire"] == "1"
    assert snap.price_usd == Decimal(3000)
    wsteth = next(c for c in snap.params["collaterals"] if c["symbol"] == "wstETH")
    assert Decimal(wsteth["price_numeraire"]) == Decimal("1.18333333")  # 3550 / 3000, 8 decimals
    # ... and frank's 5 WETH debt is worth ~$15,000, his HF computed in ETH terms
    frank = position(devnet, "frank-weth-borrower", "compound-v3", market.comet)
    (borrowed,) = frank.borrowed
    assert borrowed.price_usd == Decimal(3000)
    assert Decimal(15_000) <= borrowed.value_usd < Decimal("15000.2")  # type: ignore[operator]
    expected_hf = Decimal(10) * Decimal("1.18333333") * Decimal("0.93") / (Decimal(borrowed.amount) / WAD)
    assert frank.health_factor == expected_hf
    assert frank.account["numeraire"] == "ETH"


def test_without_a_usd_reference_an_eth_market_is_flagged_never_shown_in_usd(devnet: InProcessDevnet) -> None:
    # Given a registry whose cWETHv3 has no USD reference
    chain = devnet.registry.chains[0]
    market = comet_market(chain, "cWETHv3")
    bare = market.model_copy(update={"usd_reference": None})
    stripped = chain.model_copy(update={"markets": tuple(bare if m is market else m for m in chain.markets)})
    client, _ = devnet.client()
    snap = next(s for s in read_markets(client, stripped).snapshots if s.market_key == market.comet)
    # Then no USD price is stored for it, and the snapshot says why
    assert snap.price_usd is None
    assert all(c["price_usd"] is None for c in snap.params["collaterals"])
    assert any("no USD reference" in w for w in snap.warnings)
    # ... the position keeps its amounts and health factor (a ratio), without USD values
    frank = position(devnet, "frank-weth-borrower", "compound-v3", market.comet, stripped)
    assert frank.borrowed[0].price_usd is None
    assert frank.health_factor is not None
    assert any("no USD reference" in w for w in frank.warnings)


def test_a_slashed_staker_with_a_queued_withdrawal_shows_withdrawable_and_withdrawing(
    devnet: InProcessDevnet, restore: None
) -> None:
    # Given heidi (20 stETH restaked, delegated to the devnet operator) who queues 5 stETH out
    d = devnet.deployment
    heidi = d.users["heidi-restaker"]["address"]
    strategy = d.contracts["eigen_strategy_stETH"]
    dm = contract(devnet, "DelegationManager", d.contracts["eigen_delegation_manager"])
    queued = dm.functions.queueWithdrawals([([strategy], [5 * WAD], heidi)]).transact({"from": heidi})
    # The block that mined the queueing, not the head when asked (the devnet may mine on a timer too)
    queued_at = devnet.w3.eth.wait_for_transaction_receipt(queued)["blockNumber"]
    # ... and her operator is then slashed 10 % in the stETH strategy
    operator = dm.functions.delegatedTo(heidi).call()
    dm.functions.slashOperator(operator, strategy, WAD // 10).transact({"from": deployer(devnet)})
    # When her EigenLayer position is read
    steth = position(devnet, "heidi-restaker", "eigenlayer", strategy)
    # Then what she can withdraw is 15 x 0.9 = 13.5 stETH (not the 15 deposit shares)
    assert steth.account["deposit_shares"] == 15 * WAD
    assert steth.account["withdrawable_shares"] == 13_500_000_000_000_000_000
    strategy_c = contract(devnet, "StrategyBase", strategy)
    assert steth.supplied[0].amount == strategy_c.functions.sharesToUnderlyingView(13_500_000_000_000_000_000).call()
    # ... and the queued 5 are shown withdrawing, slashed too (4.5), with when they complete
    (withdrawing,) = steth.withdrawing
    assert withdrawing.amount == strategy_c.functions.sharesToUnderlyingView(4_500_000_000_000_000_000).call()
    (w,) = steth.account["withdrawals"]
    assert w["shares"] == 4_500_000_000_000_000_000
    assert w["start_block"] == queued_at
    assert w["completable_block"] == queued_at + scenario.EIGEN_MIN_WITHDRAWAL_DELAY_BLOCKS + 1
    # ... while her beacon-chain ETH (another strategy of the same operator) is untouched
    beacon = position(devnet, "heidi-restaker", "eigenlayer", "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0")
    assert beacon.supplied[0].amount == 64 * WAD
    assert beacon.supplied[0].value_usd == Decimal(64 * 3000)


def test_a_reverting_feed_flags_its_collateral_and_the_rest_of_the_read_goes_on(
    devnet: InProcessDevnet, restore: None
) -> None:
    # Given the wstETH feed answering 0 (Comet.getPrice reverts BadPrice())
    feed = contract(devnet, "DevPriceFeed", devnet.deployment.feeds["wstETH"])
    feed.functions.setAnswer(0).transact({"from": deployer(devnet)})
    chain = devnet.registry.chains[0]
    usdc = comet_market(chain, "cUSDCv3")
    # When markets and positions are read
    client, _ = devnet.client()
    markets = read_markets(client, chain)
    # Then cUSDCv3 is read (rates, other collaterals) with wstETH's price left empty and flagged
    # (Aave's wstETH reserve, priced by the same feed, fails alone)
    assert [f.protocol for f in markets.failures] == ["aave-v3"]
    snap = next(s for s in markets.snapshots if s.market_key == usdc.comet)
    wsteth = next(c for c in snap.params["collaterals"] if c["symbol"] == "wstETH")
    assert wsteth["price_usd"] is None
    assert any("wstETH: price feed" in w and "reverted" in w for w in snap.warnings)
    assert snap.supply_apy is not None
    # ... erin's position keeps its amounts, but no health factor is guessed
    erin = position(devnet, "erin-wsteth-borrower", "compound-v3", usdc.comet)
    assert erin.health_factor is None
    assert erin.collateral[0].price_usd is None
    assert any("health factor unknown" in w for w in erin.warnings)
    # ... and bob (WETH collateral) in the same market is unaffected
    bob = position(devnet, "bob-near-liquidation", "compound-v3", usdc.comet)
    assert bob.health_factor is not None
    assert bob.warnings == []


def test_a_paused_market_is_flagged_with_what_is_paused(devnet: InProcessDevnet, restore: None) -> None:
    chain = devnet.registry.chains[0]
    usdc = comet_market(chain, "cUSDCv3")
    comet = contract(devnet, "Comet", usdc.comet)
    comet.functions.pause(True, False, True, False, False).transact({"from": deployer(devnet)})
    client, _ = devnet.client()
    result = read_markets(client, chain)
    assert result.failures == []
    snap = next(s for s in result.snapshots if s.market_key == usdc.comet)
    assert snap.params["paused"] == {"supply": True, "withdraw": True, "absorb": False, "buy": False}
    assert snap.warnings == ["supply paused", "withdraw paused"]
    other = next(s for s in result.snapshots if s.params.get("name") == "cWETHv3")
    assert other.warnings == []
    assert "supply paused" in position(devnet, "erin-wsteth-borrower", "compound-v3", usdc.comet).warnings


def test_a_collateral_with_unreadable_metadata_is_flagged_by_address(devnet: InProcessDevnet, restore: None) -> None:
    # Given governance listing a collateral whose token has no symbol() (a contract Tidewatch knows nothing of)
    w3 = devnet.w3
    odd = w3.eth.contract(abi=artifact("DevPriceFeed")["abi"], bytecode=artifact("DevPriceFeed")["bytecode"])
    tx = odd.constructor("not a token", 10**8).transact({"from": deployer(devnet)})
    odd_address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    chain = devnet.registry.chains[0]
    usdc = comet_market(chain, "cUSDCv3")
    comet = contract(devnet, "Comet", usdc.comet)
    comet.functions.addAsset(
        odd_address, devnet.deployment.feeds["WETH"], WAD // 2, WAD // 2 + 1, WAD // 2 + 2, 10**30
    ).transact({"from": deployer(devnet)})
    client, _ = devnet.client()
    result = read_markets(client, chain)
    # Then the market is read, the new collateral is listed under its address and flagged
    assert result.failures == []
    snap = next(s for s in result.snapshots if s.market_key == usdc.comet)
    assert snap.params["collaterals"][-1]["symbol"] == odd_address
    assert snap.warnings == [f"collateral {odd_address}: symbol() unreadable"]


def test_a_steth_rebase_raises_what_a_restaker_can_withdraw(devnet: InProcessDevnet, restore: None) -> None:
    # Given heidi's 20 stETH restaked (the devnet stETH rebases like Lido's: balances are shares)
    d = devnet.deployment
    strategy = d.contracts["eigen_strategy_stETH"]
    before = position(devnet, "heidi-restaker", "eigenlayer", strategy)
    wallet_before = (
        contract(devnet, "DevRebasingToken", d.tokens["stETH"])
        .functions.balanceOf(d.users["heidi-restaker"]["address"])
        .call()
    )
    # When stETH rebases +1 % (staking rewards)
    contract(devnet, "DevRebasingToken", d.tokens["stETH"]).functions.rebase(100).transact({"from": deployer(devnet)})
    after = position(devnet, "heidi-restaker", "eigenlayer", strategy)
    wallet_after = (
        contract(devnet, "DevRebasingToken", d.tokens["stETH"])
        .functions.balanceOf(d.users["heidi-restaker"]["address"])
        .call()
    )
    # Then her shares are unchanged and their underlying grew by ~1 % (the strategy's balance
    # rebased too), as did her wallet balance
    assert after.account["withdrawable_shares"] == before.account["withdrawable_shares"]
    growth = Decimal(after.supplied[0].amount) / Decimal(before.supplied[0].amount)
    assert Decimal("1.0099") < growth <= Decimal("1.01")
    assert wallet_after == wallet_before * 101 // 100
