"""Refusals on the devnet: would-revert transactions (with their decoded reason) and guardrails."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from tidewatch.db import Database
from tidewatch.transactions.errors import (
    AmountExceedsBalance,
    ChainMismatch,
    NotYourAddress,
    SignedTransactionMismatch,
    TransactionStateConflict,
    UnsupportedIntent,
    WouldRevert,
)
from tidewatch.transactions.models import BroadcastRequest, Intent, PollRequest, PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign

pytestmark = pytest.mark.integration


def _request(user_id: int, address: str, **intent: Any) -> PrepareRequest:
    return PrepareRequest(user_id=user_id, intent=Intent.model_validate({"chain_id": 1, "from": address, **intent}))


def _count(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM transactions").fetchone()
    assert row is not None
    return int(row["n"])


def test_borrow_beyond_collateral_is_refused_with_aave_reason(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given bob, whose Aave health factor is already close to 1
    bob = devnet.user("bob-near-liquidation")
    user_id, _ = add_user(db, bob["address"])

    # When he prepares a borrow of 5,000 more USDC
    with pytest.raises(WouldRevert) as refused:
        wallet.prepare(
            _request(user_id, bob["address"], protocol="aave-v3", action="borrow", asset="USDC", amount="5000")
        )

    # Then nothing is returned or stored, and the reason is Aave's error, named
    assert refused.value.status == 422
    assert refused.value.extra["reason"] == "COLLATERAL_CANNOT_COVER_NEW_BORROW (Aave error 36)"
    assert "Borrow 5000 USDC" in refused.value.detail
    assert _count(db) == 0


def test_withdraw_that_breaks_health_factor_is_refused(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given bob's 5 WETH of Aave collateral backs 12,000 USDC of debt
    bob = devnet.user("bob-near-liquidation")
    user_id, _ = add_user(db, bob["address"])

    # When he prepares to withdraw 1 WETH (within his supplied balance)
    with pytest.raises(WouldRevert) as refused:
        wallet.prepare(
            _request(user_id, bob["address"], protocol="aave-v3", action="withdraw", asset="WETH", amount="1")
        )

    # Then it is refused: the health factor would fall below 1
    assert refused.value.extra["reason"] == "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD (Aave error 35)"


def test_comet_collateral_withdraw_that_undercollateralises_is_refused(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given bob borrowed 4,800 USDC on Comet against 2 WETH
    bob = devnet.user("bob-near-liquidation")
    user_id, _ = add_user(db, bob["address"])

    # When he prepares to withdraw 1.5 WETH of collateral
    with pytest.raises(WouldRevert) as refused:
        wallet.prepare(
            _request(
                user_id,
                bob["address"],
                protocol="compound-v3",
                action="withdraw",
                asset="WETH",
                market="USDC",
                amount="1.5",
            )
        )

    # Then Comet's NotCollateralized() custom error is the reason
    assert refused.value.extra["reason"] == "NotCollateralized"


def test_sender_outside_the_users_portfolios_is_forbidden(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given a user whose portfolio holds alice's address only
    alice, bob = devnet.user("alice-healthy"), devnet.user("bob-near-liquidation")
    user_id, _ = add_user(db, alice["address"])

    # When they prepare a transaction from bob's address
    with pytest.raises(NotYourAddress) as refused:
        wallet.prepare(_request(user_id, bob["address"], protocol="aave-v3", action="supply", asset="USDC", amount="1"))

    # Then it is a 403 naming the field
    assert refused.value.status == 403
    assert refused.value.extra["field"] == "intent.from"


def test_amount_above_wallet_balance_is_refused(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice holds 35,000 USDC (25,000 seeded + 10,000 borrowed on Aave)
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])

    # When she tries to supply 40,000
    with pytest.raises(AmountExceedsBalance) as refused:
        wallet.prepare(
            _request(user_id, alice["address"], protocol="aave-v3", action="supply", asset="USDC", amount="40000")
        )

    # Then the refusal says what is available
    assert refused.value.status == 422
    assert refused.value.extra["available"] == str(35_000 * 10**6)


def test_repay_above_debt_and_unknown_assets_and_chains_are_refused(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    # Repaying more than the debt: use "max" instead
    with pytest.raises(AmountExceedsBalance, match="max"):
        wallet.prepare(
            _request(user_id, alice["address"], protocol="aave-v3", action="repay", asset="USDC", amount="20000")
        )
    # An asset the registry does not list
    with pytest.raises(UnsupportedIntent):
        wallet.prepare(
            _request(user_id, alice["address"], protocol="aave-v3", action="supply", asset="PEPE", amount="1")
        )
    # A chain this deployment has no RPC/registry for
    request = PrepareRequest(
        user_id=user_id,
        intent=Intent.model_validate(
            {
                "chain_id": 8453,
                "from": alice["address"],
                "protocol": "aave-v3",
                "action": "supply",
                "asset": "USDC",
                "amount": "1",
            }
        ),
    )
    with pytest.raises(ChainMismatch):
        wallet.prepare(request)
    assert _count(db) == 0


def test_repay_max_approves_debt_with_a_buffer(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice owes 10,000 USDC and holds 35,000
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])

    # When she repays "max"
    record = wallet.prepare(
        _request(user_id, alice["address"], protocol="aave-v3", action="repay", asset="USDC", amount="max")
    )

    # Then the approval covers the debt (10,000 USDC plus the interest accrued since seeding, well
    # under 0.001 USDC) plus 0.1 % for interest until inclusion, and the repay passes uint256.max
    approve, repay = record.transactions
    least = 10_000 * 10**6 + 10_000 * 10**6 // 1000 + 1
    assert least <= int(approve.decoded.args["amount"]) < least + 1_000
    assert repay.decoded.args["amount"] == str(2**256 - 1)


def test_idempotency_key_returns_the_first_preparation(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    request = _request(user_id, alice["address"], protocol="aave-v3", action="supply", asset="DAI", amount="10")
    keyed = request.model_copy(update={"idempotency_key": "rule:7:2026-11-24T14:40"})
    first = wallet.prepare(keyed)
    second = wallet.prepare(keyed)
    assert second.id == first.id
    assert _count(db) == 1


def test_broadcast_refuses_foreign_or_out_of_order_signatures(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given alice's prepared approve + supply
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    record = wallet.prepare(
        _request(user_id, alice["address"], protocol="aave-v3", action="supply", asset="USDC", amount="5")
    )
    approve, supply = record.transactions

    # When the supply is signed and broadcast before the approval: refused (nonce order)
    with pytest.raises(TransactionStateConflict):
        wallet.broadcast(
            BroadcastRequest(
                user_id=user_id, transaction_id=record.id, raw_transaction=sign(supply, alice["private_key"])
            )
        )

    # When the approval is signed by another key, or its calldata changed: refused, nothing sent
    stranger = "0x" + bytes(Account.create().key).hex()
    with pytest.raises(SignedTransactionMismatch):
        wallet.broadcast(
            BroadcastRequest(user_id=user_id, transaction_id=record.id, raw_transaction=sign(approve, stranger))
        )
    tampered = approve.model_copy(update={"data": approve.data[:-2] + "ff"})
    with pytest.raises(SignedTransactionMismatch):
        wallet.broadcast(
            BroadcastRequest(
                user_id=user_id, transaction_id=record.id, raw_transaction=sign(tampered, alice["private_key"])
            )
        )
    assert wallet.get(user_id, record.id).status == "prepared"


def test_a_transaction_replaced_outside_tidewatch_is_marked_replaced(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given blocks are no longer mined per transaction, and alice broadcast a prepared withdrawal
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    client = devnet.client()
    record = wallet.prepare(
        _request(user_id, alice["address"], protocol="compound-v3", action="withdraw", asset="USDC", amount="100")
    )
    (withdraw,) = record.transactions
    client.request("evm_setAutomine", [False])
    try:
        sent = wallet.broadcast(
            BroadcastRequest(
                user_id=user_id, transaction_id=record.id, raw_transaction=sign(withdraw, alice["private_key"])
            )
        )
        assert sent.status == "submitted"
        assert wallet.poll(PollRequest()).still_pending == 1

        # When her wallet replaces it (same nonce, a 0-ETH self-transfer) and that one is mined
        client.request("anvil_dropTransaction", [sent.hash])
        replacement = Account.sign_transaction(
            {
                "type": 2,
                "chainId": 1,
                "nonce": int(withdraw.nonce, 16),
                "to": alice["address"],
                "value": 0,
                "gas": 21_000,
                "maxFeePerGas": int(withdraw.max_fee_per_gas, 16) * 2,
                "maxPriorityFeePerGas": int(withdraw.max_priority_fee_per_gas, 16) * 2,
            },
            alice["private_key"],
        )
        client.request("eth_sendRawTransaction", ["0x" + bytes(replacement.raw_transaction).hex()])
        client.request("evm_mine", [])
    finally:
        client.request("evm_setAutomine", [True])

    # Then polling marks the prepared transaction replaced, with an explanation
    assert wallet.poll(PollRequest()).replaced == 1
    final = wallet.get(user_id, record.id)
    assert final.status == "replaced"
    assert final.error is not None
    assert "replaced" in final.error
