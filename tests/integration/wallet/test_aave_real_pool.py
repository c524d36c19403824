"""Tidewatch against Aave v3's real Pool (the published @aave/core-v3 bytecode on anvil).

Interest accrues and matches the APY Tidewatch reports; a price drop makes a seeded borrower
liquidatable after Tidewatch's health-factor rule fired (and its risk forecast was high),
and a real `liquidationCall` shows in Tidewatch; an eMode borrower's threshold is the category's; and every transaction Tidewatch
prepares executes on the real Pool with the outcome its simulation gave.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from risk.deps import load_models
from tidewatch.chain import abi
from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.forecast.payloads import RiskRequest
from tidewatch.forecast.risk_model import score_positions
from tidewatch.portfolios.chain_source import _rows
from tidewatch.portfolios.risk_requests import account_requests
from tidewatch.protocols.models import ChainPosition
from tidewatch.protocols.rates import SECONDS_PER_YEAR
from tidewatch.protocols.reader import read_markets, read_positions
from tidewatch.rules.actions import ActionRunner
from tidewatch.rules.model import RuleSpec
from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource
from tidewatch.rules.tick import TickSources, run_tick
from tidewatch.transactions.models import Intent, PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign, wait_for_receipt

pytestmark = pytest.mark.integration

DAY = 86_400
ONE_BP = Decimal("0.0001")


def _aave(devnet: Devnet, client: ChainClient, address: str) -> ChainPosition:
    chain = devnet.registry.chains[0]
    positions = read_positions(client, chain, [address]).positions
    return next(p for p in positions if p.protocol == "aave-v3")


def _amount(tokens: list[Any], symbol: str) -> int:
    return sum(t.amount for t in tokens if t.symbol == symbol)


def _operator_send(devnet: Devnet, to: str, data: bytes, sender: str) -> dict[str, Any]:
    client = devnet.client()
    tx_hash = client.request("eth_sendTransaction", [{"from": sender, "to": to, "data": "0x" + data.hex()}])
    receipt = wait_for_receipt(client, tx_hash)
    assert receipt["status"] == "0x1", receipt
    return receipt


def _set_price(devnet: Devnet, symbol: str, usd: Decimal) -> None:
    feed = devnet.deployment.feeds[symbol]
    set_answer = abi.Function("setAnswer(int256)")
    _operator_send(devnet, feed, set_answer.encode(int(usd * 10**8)), devnet.deployment.operators["deployer"])


def test_interest_accrues_and_the_reported_apy_matches_a_day_of_balance_growth(devnet: Devnet) -> None:
    # Given the APYs Tidewatch reports for Aave WETH (supply) and USDC (borrow), and alice's
    # 10 WETH supplied and 10,000 USDC borrowed
    client = devnet.client()
    chain = devnet.registry.chains[0]
    snapshots = {s.asset_symbol: s for s in read_markets(client, chain).snapshots if s.protocol == "aave-v3"}
    alice = devnet.user("alice-healthy")["address"]
    first = read_positions(client, chain, [alice])
    before = next(p for p in first.positions if p.protocol == "aave-v3")

    # When a day passes on chain with no transaction
    client.request("evm_increaseTime", [DAY])
    client.request("evm_mine", [])
    second = read_positions(client, chain, [alice])
    after = next(p for p in second.positions if p.protocol == "aave-v3")
    elapsed = second.block.timestamp - first.block.timestamp
    assert DAY <= elapsed < DAY + 60

    # Then both balances grew, and the growth annualised equals the reported APY within 1 bp
    for side, symbol, apy in (
        ("supplied", "WETH", snapshots["WETH"].supply_apy),
        ("borrowed", "USDC", snapshots["USDC"].borrow_apy),
    ):
        start = _amount(getattr(before, side), symbol)
        end = _amount(getattr(after, side), symbol)
        assert end > start
        growth = Decimal(end) / Decimal(start)
        measured = growth ** (Decimal(SECONDS_PER_YEAR) / Decimal(elapsed)) - 1
        assert apy is not None
        assert apy > Decimal("0.001")
        assert abs(measured - apy) < ONE_BP, (symbol, measured, apy)


def _hf_rule(db: Database, user_id: int, portfolio_id: int) -> int:
    rule = RuleSpec.model_validate(
        {
            "name": "Bob close to liquidation",
            "portfolio_id": portfolio_id,
            "trigger": {"type": "health_factor_below", "threshold": 1.05},
            "actions": [{"type": "notify", "severity": "critical"}],
        }
    )
    with db.connection() as conn:
        row = conn.execute(
            "INSERT INTO rules (user_id, portfolio_id, name, definition, cadence_seconds, cooldown_seconds) "
            "VALUES (%s, %s, %s, %s::jsonb, 60, 3600) RETURNING id",
            (user_id, rule.portfolio_id, rule.name, rule.definition().model_dump_json()),
        ).fetchone()
    assert row is not None
    return int(row["id"])


def test_a_price_drop_liquidates_bob_after_the_rule_fired_and_tidewatch_shows_the_reduced_position(
    db: Database, devnet: Devnet
) -> None:
    # Given bob (Aave: 5 WETH collateral at $3,000, 12,000 USDC debt, HF ~1.0375) and a rule
    # "health factor below 1.05" on his portfolio, fed with what Tidewatch reads from the Pool
    client = devnet.client()
    bob = devnet.user("bob-near-liquidation")["address"]
    user_id, portfolio_id = add_user(db, bob)
    position = _aave(devnet, client, bob)
    assert position.health_factor is not None
    assert Decimal(1) < position.health_factor < Decimal("1.05")
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO position_snapshots (portfolio_id, net_worth_usd, min_health_factor, payload) "
            "VALUES (%s, 3000, %s, '{}'::jsonb)",
            (portfolio_id, position.health_factor),
        )
    _hf_rule(db, user_id, portfolio_id)
    # And the liquidation-risk forecast on what Tidewatch read is high or critical (shipped model):
    # a 3.6 % WETH drop within the next 24 hours liquidates him
    (request,) = account_requests(_rows(position, {}), {}).values()
    (forecast,) = score_positions([RiskRequest.model_validate(request)], load_models(None).risk)
    assert forecast.band in ("high", "critical")
    assert forecast.probability > 0.1
    assert forecast.distance_to_liquidation < 0.04

    # When the rules tick runs while he is still solvent
    report = run_tick(
        at=datetime.now(UTC),
        database=db,
        sources=TickSources(PostgresMarketSource(db), SnapshotPositionSource(db), None),
        runner=ActionRunner(db, pusher=None, preparer=None, webhooks=None, backoff_seconds=0.0),
    )
    # Then the rule fired before any liquidation was possible
    assert report.fired == 1

    # When WETH drops 5 % ($3,000 -> $2,850): HF = 5 x 2,850 x 0.83 / 12,000 < 1
    _set_price(devnet, "WETH", Decimal(2850))
    underwater = _aave(devnet, client, bob)
    assert underwater.health_factor is not None
    assert underwater.health_factor < 1
    # And a devnet liquidator repays half of his USDC debt through the real liquidationCall
    liquidator = devnet.deployment.operators["provider"]  # holds USDC, pool already approved
    weth, usdc = devnet.token("WETH"), devnet.token("USDC")
    debt = _amount(underwater.borrowed, "USDC")
    cover = debt // 2  # Aave's close factor: 50 % while HF > 0.95
    pool = devnet.deployment.contracts["aave_pool"]
    _operator_send(devnet, pool, abi.AAVE_LIQUIDATION_CALL.encode(weth, usdc, bob, cover, False), liquidator)

    # Then Tidewatch shows the reduced position: half the debt left, and collateral reduced by
    # the debt covered in WETH plus the 5 % liquidation bonus
    liquidated = _aave(devnet, client, bob)
    remaining_debt = _amount(liquidated.borrowed, "USDC")
    assert abs(remaining_debt - (debt - cover)) < 1_000  # ~21 base units of interest per second
    seized = _amount(underwater.supplied, "WETH") - _amount(liquidated.supplied, "WETH")
    expected = Decimal(cover) / 10**6 * Decimal("1.05") / Decimal(2850) * 10**18
    assert abs(Decimal(seized) - expected) / expected < Decimal("0.0001")
    assert liquidated.health_factor is not None
    assert liquidated.health_factor > underwater.health_factor


def test_an_emode_borrower_has_the_pools_health_factor_and_the_categorys_threshold(devnet: Devnet) -> None:
    # Given dave, in the ETH-correlated eMode (LT 95 %) with wstETH collateral and WETH debt
    client = devnet.client()
    dave = devnet.user("dave-emode")["address"]
    pool = devnet.deployment.contracts["aave_pool"]
    # When Tidewatch reads his position
    position = _aave(devnet, client, dave)
    # Then his health factor and threshold are the Pool's own, and the threshold is eMode's 95 %
    account = abi.AAVE_GET_USER_ACCOUNT_DATA.decode(
        client.eth_call(pool, abi.AAVE_GET_USER_ACCOUNT_DATA.encode(dave), position_block(client))
    )
    assert position.account["emode_category"] == 1
    assert position.account["current_liquidation_threshold"] == account[3] == 9500
    assert position.health_factor == Decimal(account[5]) / Decimal(10**18)
    (wsteth,) = position.supplied
    assert wsteth.liquidation_threshold == Decimal("0.95")
    # And the risk request carries the eMode threshold, not the reserve's 81 %
    requests = account_requests(_rows(position, {}), {})
    (request,) = requests.values()
    assert [c["liquidation_threshold"] for c in request["collateral"]] == ["0.95"]


def position_block(client: ChainClient) -> int:
    return client.block_number()


def _prepare(wallet: WalletService, user_id: int, **intent: Any) -> Any:
    return wallet.prepare(PrepareRequest(user_id=user_id, intent=Intent.model_validate(intent)))


def _execute_and_compare(wallet: WalletService, devnet: Devnet, record: Any, private_key: str) -> list[int]:
    """Send each prepared transaction: each succeeds within its prepared gas limit, using at least
    90 % of the gas simulated at the pending state (eth_estimateGas counts gas later refunded) and
    at most 10 % more. The margin above: anvil's pending block can carry the latest block's
    timestamp when both fall in one wall-clock second, and Aave's reserve update is a no-op within
    one timestamp, so the simulation may skip the interest accrual that the mined block (always a
    later second) pays. On a real chain the pending block is always later."""
    client = wallet.chains[record.chain_id]
    used = []
    for tx in record.transactions:
        raw = sign(tx, private_key)
        tx_hash = client.request("eth_sendRawTransaction", [raw])
        receipt = wait_for_receipt(client, tx_hash)
        assert receipt["status"] == "0x1", tx.decoded
        used.append(int(receipt["gasUsed"], 16))
        assert used[-1] <= int(tx.gas, 16), tx.decoded
        assert tx.simulated_gas_used * 9 // 10 <= used[-1] <= tx.simulated_gas_used * 11 // 10, tx.decoded
    return used


def _wallet_balance(devnet: Devnet, token: str, owner: str) -> int:
    return int(abi.ERC20_BALANCE_OF.decode_one(devnet.client().eth_call(token, abi.ERC20_BALANCE_OF.encode(owner))))


@pytest.mark.parametrize(
    ("action", "asset", "amount", "wallet_delta"),
    [
        ("supply", "USDC", "1000", -1_000 * 10**6),
        ("withdraw", "WETH", "1", 10**18),
        ("borrow", "DAI", "500", 500 * 10**18),
        ("repay", "USDC", "2500", -2_500 * 10**6),
    ],
)
def test_each_prepared_transaction_executes_on_the_real_pool_as_simulated(
    wallet: WalletService, db: Database, devnet: Devnet, action: str, asset: str, amount: str, wallet_delta: int
) -> None:
    # Given alice (10 WETH supplied, 10,000 USDC borrowed, USDC and DAI in her wallet)
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    token = devnet.token(asset)
    before = _wallet_balance(devnet, token, alice["address"])
    # When Tidewatch prepares the action (approval first where tokens flow in) and she signs it
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="aave-v3",
        action=action,
        asset=asset,
        amount=amount,
        **{"from": alice["address"]},
    )
    if action in ("supply", "repay"):
        assert record.transactions[0].decoded.function == "approve(address,uint256)"
    _execute_and_compare(wallet, devnet, record, alice["private_key"])
    # Then every transaction succeeded as simulated and the wallet moved by exactly the amount
    assert _wallet_balance(devnet, token, alice["address"]) - before == wallet_delta


def test_repay_max_clears_the_debt_on_the_real_pool(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice owes ~10,000 USDC (interest accruing) and holds 25,000 USDC
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    # When she repays "max" and signs what Tidewatch prepared
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="aave-v3",
        action="repay",
        asset="USDC",
        amount="max",
        **{"from": alice["address"]},
    )
    _execute_and_compare(wallet, devnet, record, alice["private_key"])
    # Then the real Pool shows no USDC debt left (the approval's buffer covered the interest)
    position = _aave(devnet, devnet.client(), alice["address"])
    assert _amount(position.borrowed, "USDC") == 0
