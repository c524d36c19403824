"""Wallets that sign and send in one step (MetaMask's eth_sendTransaction): Tidewatch is given the
hash, checks the node's copy against what it prepared, and tracks it to confirmation."""

from __future__ import annotations

import pytest

from tidewatch.db import Database
from tidewatch.transactions.errors import SignedTransactionMismatch
from tidewatch.transactions.models import BroadcastRequest, Intent, PollRequest, PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign, wait_for_receipt

pytestmark = pytest.mark.integration


def test_a_wallet_sent_transaction_is_checked_and_tracked_by_hash(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given a prepared Compound supply (approve, then supply) for alice
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    intent = {"chain_id": 1, "protocol": "compound-v3", "action": "supply", "from": alice["address"],
              "asset": "USDC", "amount": "10"}  # fmt: skip
    record = wallet.prepare(PrepareRequest(user_id=user_id, intent=Intent.model_validate(intent)))
    client = devnet.client()
    # When her wallet sends each transaction itself and Tidewatch is told only the hashes
    for tx in record.transactions:
        tx_hash = client.request("eth_sendRawTransaction", [sign(tx, alice["private_key"])])
        wait_for_receipt(client, tx_hash)
        result = wallet.broadcast(BroadcastRequest(user_id=user_id, transaction_id=record.id, tx_hash=tx_hash))
        # Then each is recognised as the prepared one and tracked as submitted
        assert result.status in ("submitted", "confirmed")
        assert result.hash == tx_hash.lower()
    # And receipt polling confirms the list
    wallet.poll(PollRequest())
    assert wallet.get(user_id, record.id).status == "confirmed"


def test_a_hash_of_something_else_is_refused(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given a prepared supply for alice, and an unrelated transaction she sent (a self-transfer)
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    intent = {"chain_id": 1, "protocol": "aave-v3", "action": "supply", "from": alice["address"],
              "asset": "USDC", "amount": "1"}  # fmt: skip
    record = wallet.prepare(PrepareRequest(user_id=user_id, intent=Intent.model_validate(intent)))
    client = devnet.client()
    from eth_account import Account

    transfer = {
        "type": 2,
        "chainId": 1,
        "nonce": int(client.request("eth_getTransactionCount", [alice["address"], "pending"]), 16),
        "to": alice["address"],
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10 * int(client.request("eth_gasPrice", []), 16),
        "maxPriorityFeePerGas": 1,
    }
    raw = "0x" + bytes(Account.sign_transaction(transfer, alice["private_key"]).raw_transaction).hex()
    other = client.request("eth_sendRawTransaction", [raw])
    wait_for_receipt(client, other)
    # When its hash is offered as the prepared transaction / Then it is refused, naming the field
    with pytest.raises(SignedTransactionMismatch) as refused:
        wallet.broadcast(BroadcastRequest(user_id=user_id, transaction_id=record.id, tx_hash=other))
    assert refused.value.extra["field"] == "tx_hash"
    # And an unknown hash is refused too
    with pytest.raises(SignedTransactionMismatch):
        wallet.broadcast(BroadcastRequest(user_id=user_id, transaction_id=record.id, tx_hash="0x" + "ab" * 32))
