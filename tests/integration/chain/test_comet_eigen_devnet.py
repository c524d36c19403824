"""The Comet and EigenLayer stand-ins on anvil behave as the protocols document, and Tidewatch
reads what they do: interest accrual by Comet's formulas, a health factor consistent with
isLiquidatable at the threshold, an absorb after a price drop, buyCollateral's store-front price,
Comet's custom errors, the WETH market valued at the ETH price, and a slashed staker's queued
withdrawal completing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD
from web3.middleware import SignAndSendRawMiddlewareBuilder

from tidewatch.chain.rpc import ChainClient, RpcError
from tidewatch.protocols.models import ChainPosition
from tidewatch.protocols.reader import read_markets, read_positions
from tidewatch.protocols.registry import CompoundV3Market
from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.artifacts import artifact

from .conftest import AnvilDevnet

pytestmark = pytest.mark.integration

WAD = 10**18
BASE_INDEX_SCALE = 10**15
BEACON = "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0"


@pytest.fixture
def chain_state(anvil_devnet: AnvilDevnet) -> Iterator[Web3]:
    """A web3 on the anvil devnet that signs for the seeded users; chain state is restored after."""
    w3 = Web3(Web3.HTTPProvider(anvil_devnet.node.url))
    keys = [Account.from_key(u["private_key"]) for u in anvil_devnet.deployment.users.values()]
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(keys), layer=0)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield w3
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


def at(w3: Web3, name: str, address: str) -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])


def send(w3: Web3, fn: Any, sender: str) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


def client(d: AnvilDevnet) -> ChainClient:
    return ChainClient(d.chain_id, [d.node.url])


def comet_of(d: AnvilDevnet, name: str) -> CompoundV3Market:
    return next(m for m in d.registry.chains[0].markets if isinstance(m, CompoundV3Market) and m.name == name)


def positions_of(d: AnvilDevnet, label: str) -> list[ChainPosition]:
    result = read_positions(client(d), d.registry.chains[0], [d.deployment.users[label]["address"]])
    return result.positions


def comet_position(d: AnvilDevnet, label: str, market: str) -> ChainPosition | None:
    key = comet_of(d, market).comet.lower()
    return next((p for p in positions_of(d, label) if p.market_key.lower() == key), None)


def set_price(w3: Web3, d: AnvilDevnet, symbol: str, usd: Decimal) -> None:
    send(w3, at(w3, "DevPriceFeed", d.deployment.feeds[symbol]).functions.setAnswer(int(usd * 10**8)), deployer(d))


def deployer(d: AnvilDevnet) -> str:
    return d.deployment.operators["deployer"]


def user(d: AnvilDevnet, label: str) -> str:
    return d.deployment.users[label]["address"]


def test_base_indexes_accrue_by_comets_formula(anvil_devnet: AnvilDevnet, chain_state: Web3) -> None:
    # Given cUSDCv3's stored state and bob's borrow principal
    w3, d = chain_state, anvil_devnet
    comet = at(w3, "Comet", comet_of(d, "cUSDCv3").comet)
    send(w3, comet.functions.accrueAccount(user(d, "bob-near-liquidation")), deployer(d))
    supply_index, borrow_index, _, _, supply_base, borrow_base, last, _ = comet.functions.totalsBasic().call()
    utilization = (
        borrow_base * borrow_index // BASE_INDEX_SCALE * WAD // (supply_base * supply_index // BASE_INDEX_SCALE)
    )
    supply_rate = comet.functions.getSupplyRate(utilization).call()
    borrow_rate = comet.functions.getBorrowRate(utilization).call()
    principal = comet.functions.userBasic(user(d, "bob-near-liquidation")).call()[0]
    # When a day passes and the market accrues
    w3.provider.make_request("evm_increaseTime", [86_400])  # type: ignore[arg-type]
    receipt = send(w3, comet.functions.accrueAccount(user(d, "bob-near-liquidation")), deployer(d))
    elapsed = w3.eth.get_block(receipt["blockNumber"])["timestamp"] - last
    # Then each index grew by index x rate x elapsed / 1e18 (Comet's accrueInternal)
    after = comet.functions.totalsBasic().call()
    assert after[0] == supply_index + supply_index * (supply_rate * elapsed) // WAD
    assert after[1] == borrow_index + borrow_index * (borrow_rate * elapsed) // WAD
    # ... and bob's debt is his principal at the new borrow index
    assert (
        comet.functions.borrowBalanceOf(user(d, "bob-near-liquidation")).call()
        == -principal * after[1] // BASE_INDEX_SCALE
    )
    # ... which Tidewatch reports
    bob = comet_position(d, "bob-near-liquidation", "cUSDCv3")
    assert bob is not None
    assert bob.account["base_borrowed"] == -principal * after[1] // BASE_INDEX_SCALE


def test_health_factor_agrees_with_is_liquidatable_across_the_threshold(
    anvil_devnet: AnvilDevnet, chain_state: Web3
) -> None:
    # Given erin (10 wstETH, ~20,000 USDC borrowed on cUSDCv3, liquidate CF 0.87)
    w3, d = chain_state, anvil_devnet
    comet = at(w3, "Comet", comet_of(d, "cUSDCv3").comet)
    send(w3, comet.functions.accrueAccount(user(d, "erin-wsteth-borrower")), deployer(d))
    debt = Decimal(comet.functions.borrowBalanceOf(user(d, "erin-wsteth-borrower")).call()) / 10**6
    threshold = debt / (10 * Decimal("0.87"))  # the wstETH price at which HF = 1
    for factor, liquidatable in ((Decimal("1.002"), False), (Decimal("0.998"), True)):
        # When wstETH is priced just above / just below the threshold
        set_price(w3, d, "wstETH", (threshold * factor).quantize(Decimal("0.00000001")))
        erin = comet_position(d, "erin-wsteth-borrower", "cUSDCv3")
        assert erin is not None
        assert erin.health_factor is not None
        # Then Tidewatch's HF is on the same side of 1 as Comet's isLiquidatable, USD values shown
        assert (erin.health_factor < 1) is liquidatable
        assert erin.account["is_liquidatable"] is liquidatable
        assert erin.collateral[0].value_usd == erin.collateral[0].price_usd * 10  # type: ignore[operator]
        assert not any("disagrees" in w for w in erin.warnings)


def test_an_absorb_after_a_price_drop_shows_in_tidewatch_and_the_collateral_is_for_sale(
    anvil_devnet: AnvilDevnet, chain_state: Web3
) -> None:
    w3, d = chain_state, anvil_devnet
    market = comet_of(d, "cUSDCv3")
    comet = at(w3, "Comet", market.comet)
    erin = user(d, "erin-wsteth-borrower")
    whale = d.deployment.operators["whale"]
    # Given wstETH falling to $2,000: erin's HF drops below 1
    set_price(w3, d, "wstETH", Decimal(2000))
    before = comet_position(d, "erin-wsteth-borrower", "cUSDCv3")
    assert before is not None
    assert before.health_factor is not None
    assert before.health_factor < 1
    assert before.account["is_liquidatable"] is True
    reserves_before = comet.functions.getReserves().call()
    # When the whale absorbs her account
    receipt = send(w3, comet.functions.absorb(whale, [erin]), whale)
    # Then Comet wrote off her debt at the liquidation factor: 10 x $2000 x 0.92 = $18,400 of
    # collateral against ~$20,000 of debt, the shortfall paid by reserves
    (event,) = comet.events.AbsorbDebt().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["basePaidOut"] >= 20_000 * 10**6
    assert comet.functions.getReserves().call() < reserves_before - 1_500 * 10**6
    # ... and Tidewatch shows it: no position left for erin, the collateral moved to reserves
    assert comet_position(d, "erin-wsteth-borrower", "cUSDCv3") is None
    snap = next(s for s in read_markets(client(d), d.registry.chains[0]).snapshots if s.market_key == market.comet)
    wsteth = next(c for c in snap.params["collaterals"] if c["symbol"] == "wstETH")
    assert wsteth["total_supplied"] == 0
    assert snap.params["reserves"] < reserves_before
    # When the whale buys the absorbed wstETH with 5,000 USDC (reserves are below target)
    token = at(w3, "DevToken", d.deployment.tokens["wstETH"])
    got_before = token.functions.balanceOf(whale).call()
    quote = comet.functions.quoteCollateral(d.deployment.tokens["wstETH"], 5_000 * 10**6).call()
    send(w3, comet.functions.buyCollateral(d.deployment.tokens["wstETH"], 0, 5_000 * 10**6, whale), whale)
    # Then the price is the store-front one: $2000 x (1 - 0.5 x (1 - 0.92)) = $1,920 per wstETH
    assert quote == 10**8 * 5_000 * 10**6 * WAD // (2000 * 10**8 * 96 // 100) // 10**6
    assert token.functions.balanceOf(whale).call() - got_before == quote


def test_comet_reverts_with_its_custom_errors(anvil_devnet: AnvilDevnet, chain_state: Web3) -> None:
    w3, d = chain_state, anvil_devnet
    comet_address = comet_of(d, "cUSDCv3").comet
    comet = at(w3, "Comet", comet_address)
    alice = user(d, "alice-healthy")
    rpc = client(d)

    def error_of(fn: Any, sender: str) -> bytes:
        data = fn._encode_transaction_data()
        with pytest.raises(RpcError) as caught:
            rpc.request("eth_call", [{"from": sender, "to": comet_address, "data": data}, "latest"])
        return bytes.fromhex(str(caught.value.data)[2:10])

    def selector(sig: str) -> bytes:
        return keccak(text=sig)[:4]

    # a borrow below baseBorrowMin (100 USDC): bob has collateral, asks for 50
    bob = user(d, "bob-near-liquidation")
    send(w3, comet.functions.supply(d.deployment.tokens["USDC"], 0), bob)  # accrue
    assert error_of(comet.functions.withdraw(d.deployment.tokens["USDC"], 10**18), bob) == selector(
        "NotCollateralized()"
    )
    fresh = d.deployment.operators["simulator"]
    send(w3, comet.functions.supply(d.deployment.tokens["WETH"], WAD), fresh)
    assert error_of(comet.functions.withdraw(d.deployment.tokens["USDC"], 50 * 10**6), fresh) == selector(
        "BorrowTooSmall()"
    )
    # absorbing a healthy account, an unknown asset, then a paused market
    assert error_of(comet.functions.absorb(alice, [alice]), alice) == selector("NotLiquidatable()")
    assert error_of(comet.functions.getAssetInfo(30), alice) == selector("BadAsset()")
    send(w3, comet.functions.pause(True, False, False, False, False), deployer(d))
    assert error_of(comet.functions.supply(d.deployment.tokens["USDC"], 1), alice) == selector("Paused()")


def test_a_weth_market_position_is_valued_at_the_eth_price(anvil_devnet: AnvilDevnet, chain_state: Web3) -> None:
    w3, d = chain_state, anvil_devnet
    # Given ETH moving to $2,500 (the WETH/USD feed, the devnet's ETH/USD reference)
    set_price(w3, d, "WETH", Decimal(2500))
    frank = comet_position(d, "frank-weth-borrower", "cWETHv3")
    assert frank is not None
    (borrowed,) = frank.borrowed
    # Then his WETH debt is valued at $2,500 per WETH, while Comet's own base price stays 1 (ETH)
    assert borrowed.price_usd == Decimal(2500)
    assert borrowed.value_usd == Decimal(borrowed.amount) / WAD * 2500
    assert frank.account["numeraire_usd"] == "2500"
    # ... and his wstETH collateral at its USD price (its X/ETH feed times ETH/USD)
    assert frank.collateral[0].price_usd == Decimal("1.42000000") * 2500  # 3550 / 2500 in 8 decimals


def test_a_slashed_queued_withdrawal_completes_for_what_tidewatch_showed(
    anvil_devnet: AnvilDevnet, chain_state: Web3
) -> None:
    w3, d = chain_state, anvil_devnet
    heidi = user(d, "heidi-restaker")
    strategy = d.deployment.contracts["eigen_strategy_stETH"]
    dm = at(w3, "DelegationManager", d.deployment.contracts["eigen_delegation_manager"])
    # Given heidi queues 8 of her 20 stETH shares and beacon ETH, then her operator is slashed 25 %
    send(w3, dm.functions.queueWithdrawals([([strategy, BEACON], [8 * WAD, 32 * WAD], heidi)]), heidi)
    operator = dm.functions.delegatedTo(heidi).call()
    send(w3, dm.functions.slashOperator(operator, strategy, WAD // 4), deployer(d))
    send(w3, dm.functions.slashOperator(operator, BEACON, WAD // 4), deployer(d))
    # When Tidewatch reads her EigenLayer positions
    mine = {p.market_key.lower(): p for p in positions_of(d, "heidi-restaker") if p.protocol == "eigenlayer"}
    steth, beacon = mine[strategy.lower()], mine[BEACON.lower()]
    # Then it shows 12 x 0.75 = 9 withdrawable and 8 x 0.75 = 6 withdrawing (stETH), 24 + 24 ETH
    assert steth.account["withdrawable_shares"] == 9 * WAD
    assert steth.account["withdrawals"][0]["shares"] == 6 * WAD
    assert beacon.supplied[0].amount == 24 * WAD
    assert [t.amount for t in beacon.withdrawing] == [24 * WAD]
    queued = steth.account["withdrawals"][0]
    blocks_left = queued["completable_in_blocks"]
    assert queued["completable_block"] == queued["start_block"] + scenario.EIGEN_MIN_WITHDRAWAL_DELAY_BLOCKS + 1
    assert blocks_left == queued["completable_block"] - w3.eth.block_number
    # When the delay passes, the position says it can complete, and heidi completes it
    for _ in range(blocks_left):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    steth = next(p for p in positions_of(d, "heidi-restaker") if p.market_key.lower() == strategy.lower())
    assert steth.account["withdrawals"][0]["completable_in_blocks"] == 0
    (withdrawal,), _ = dm.functions.getQueuedWithdrawals(heidi).call()
    token = at(w3, "DevToken", d.deployment.tokens["stETH"])
    before = token.functions.balanceOf(heidi).call()
    send(w3, dm.functions.completeQueuedWithdrawal(withdrawal, [d.deployment.tokens["stETH"], BEACON], True), heidi)
    # Then she received exactly the withdrawing amount Tidewatch showed
    assert token.functions.balanceOf(heidi).call() - before == steth.withdrawing[0].amount
    assert [p.withdrawing for p in positions_of(d, "heidi-restaker") if p.market_key.lower() == strategy.lower()] == [
        []
    ]
