"""Rule intents on the devnet: repay to a target health factor, move supply between markets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tidewatch.chain import abi
from tidewatch.db import Database
from tidewatch.intents import MoveSupply, RepayToHealthFactor
from tidewatch.transactions.errors import UnsupportedIntent
from tidewatch.transactions.models import PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign_and_send_all

pytestmark = pytest.mark.integration


def add_markets(db: Database, devnet: Devnet) -> dict[str, int]:
    """The `markets` rows ingest would write for the devnet's USDC markets (ids rules refer to)."""
    usdc = devnet.token("USDC")
    rows = {
        "aave-usdc": ("aave-v3", usdc, usdc),
        "comet-usdc": ("compound-v3", devnet.deployment.contracts["comet_cUSDCv3"], usdc),
        "eigen-steth": ("eigenlayer", devnet.deployment.contracts["eigen_strategy_stETH"], devnet.token("stETH")),
    }
    ids = {}
    with db.connection() as conn:
        for name, (protocol, key, asset) in rows.items():
            row = conn.execute(
                "INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals) "
                "VALUES (1, %s, %s, %s, %s, %s) RETURNING id",
                (protocol, key, "USDC" if asset == usdc else "stETH", asset, 6 if asset == usdc else 18),
            ).fetchone()
            assert row is not None
            ids[name] = int(row["id"])
    return ids


def _health(devnet: Devnet, address: str) -> Decimal:
    pool = devnet.deployment.contracts["aave_pool"]
    data = abi.AAVE_GET_USER_ACCOUNT_DATA.decode(
        devnet.client().eth_call(pool, abi.AAVE_GET_USER_ACCOUNT_DATA.encode(address))
    )
    return Decimal(data[5]) / Decimal(10**18)


def test_repay_to_health_factor_restores_the_target(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given bob (Aave HF 1.0375: 5 WETH at $3,000, LT 83 %, 12,000 USDC debt) in a portfolio with alice
    bob, alice = devnet.user("bob-near-liquidation"), devnet.user("alice-healthy")
    user_id, portfolio_id = add_user(db, alice["address"], bob["address"])
    markets = add_markets(db, devnet)
    assert abs(_health(devnet, bob["address"]) - Decimal("1.0375")) < Decimal("0.0001")  # interest accrues

    # When a rule asks to restore the health factor to 1.2 on the Aave USDC market
    record = wallet.prepare(
        PrepareRequest(
            user_id=user_id,
            portfolio_id=portfolio_id,
            rule_id=None,
            idempotency_key="rule:1:w1",
            intent=RepayToHealthFactor(
                kind="repay_to_health_factor", market_id=markets["aave-usdc"], target_health_factor=Decimal("1.2")
            ),
        )
    )

    # Then bob (the riskiest address) repays 12,000 x 1.0001 - 15,000 x 0.83 / 1.2 = 1,626.2 USDC
    # (plus the seconds of interest accrued since seeding; the 1 bp covers accrual until inclusion)
    repay = record.transactions[-1]
    assert repay.from_address == bob["address"]
    assert 1_626_200_000 <= int(repay.decoded.args["amount"]) < 1_626_300_000
    sign_and_send_all(wallet, user_id, record, bob["private_key"])
    assert Decimal("1.2") <= _health(devnet, bob["address"]) < Decimal("1.2005")


def test_move_supply_withdraws_then_supplies_in_one_bundle(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice supplies 5,000 USDC on Comet
    alice = devnet.user("alice-healthy")
    user_id, portfolio_id = add_user(db, alice["address"])
    markets = add_markets(db, devnet)
    comet = devnet.deployment.contracts["comet_cUSDCv3"]
    dp = devnet.deployment.contracts["aave_data_provider"]

    def balances() -> tuple[int, int]:
        client = devnet.client()
        on_comet = abi.COMET_BALANCE_OF.decode_one(
            client.eth_call(comet, abi.COMET_BALANCE_OF.encode(alice["address"]))
        )
        on_aave = abi.AAVE_DP_GET_USER_RESERVE_DATA.decode(
            client.eth_call(dp, abi.AAVE_DP_GET_USER_RESERVE_DATA.encode(devnet.token("USDC"), alice["address"]))
        )[0]
        return on_comet, on_aave

    before = balances()

    # When a rule moves half of it to Aave
    record = wallet.prepare(
        PrepareRequest(
            user_id=user_id,
            portfolio_id=portfolio_id,
            intent=MoveSupply(
                kind="move_supply",
                from_market_id=markets["comet-usdc"],
                to_market_id=markets["aave-usdc"],
                fraction=Decimal("0.5"),
            ),
        )
    )

    # Then one bundle withdraws 2,500 from Comet, approves and supplies 2,500 to Aave — simulated
    # together (the supply spends what the withdrawal returns), then executed
    assert [t.decoded.function.split("(")[0] for t in record.transactions] == ["withdraw", "approve", "supply"]
    moved = int(record.transactions[0].decoded.args["amount"])
    # Half of 5,000 USDC plus accrued interest; Comet's balance rounds its principal down, so right
    # after the supply (no interest yet) it can read one unit short
    assert 2_500 * 10**6 - 1 <= moved <= 2_500 * 10**6 + 1_000
    sign_and_send_all(wallet, user_id, record, alice["private_key"])
    after = balances()
    # Comet keeps accruing between the reads, so its balance fell by the amount less a few units
    # (or one unit more: Comet rounds the remaining principal down)
    assert -1 <= moved - (before[0] - after[0]) <= 1_000
    # (the new aUSDC balance earns interest on the real Pool from the next second: a few base units)
    assert 0 <= after[1] - before[1] - moved < 1_000


def test_rule_intents_are_refused_when_they_cannot_apply(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    carol = devnet.user("carol-staker")
    user_id, portfolio_id = add_user(db, carol["address"])
    markets = add_markets(db, devnet)
    repay = RepayToHealthFactor(kind="repay_to_health_factor", market_id=markets["aave-usdc"])
    with pytest.raises(UnsupportedIntent, match="owes USDC"):
        wallet.prepare(PrepareRequest(user_id=user_id, portfolio_id=portfolio_id, intent=repay))
    with pytest.raises(UnsupportedIntent, match="needs portfolio_id"):
        wallet.prepare(PrepareRequest(user_id=user_id, intent=repay))
    move = MoveSupply(kind="move_supply", from_market_id=markets["eigen-steth"], to_market_id=markets["aave-usdc"])
    with pytest.raises(UnsupportedIntent, match="assets or chains differ"):
        wallet.prepare(PrepareRequest(user_id=user_id, portfolio_id=portfolio_id, intent=move))
