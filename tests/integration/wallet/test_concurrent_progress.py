"""The broadcast of one step and the receipt poll of the previous one race on the same row (the
dashboard sends step 2 the moment step 1 is relayed; the schedule polls receipts meanwhile):
neither may undo what the other wrote."""

from __future__ import annotations

import pytest

from tidewatch.db import Database
from tidewatch.transactions.models import BroadcastRequest, Intent, PollRequest, PreparedTransactions, PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign, wait_for_receipt

pytestmark = pytest.mark.integration


def _prepared_supply(wallet: WalletService, db: Database, devnet: Devnet) -> tuple[int, str, PreparedTransactions]:
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    intent = {"chain_id": 1, "protocol": "aave-v3", "action": "supply", "from": alice["address"],
              "asset": "USDC", "amount": "1"}  # fmt: skip
    record = wallet.prepare(PrepareRequest(user_id=user_id, intent=Intent.model_validate(intent)))
    assert len(record.transactions) == 2  # approve, then supply
    return user_id, alice["private_key"], record


def test_a_poll_that_read_before_the_next_step_was_sent_keeps_that_step(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given an approve + supply whose approve is relayed and mined
    user_id, key, record = _prepared_supply(wallet, db, devnet)
    client = devnet.client()
    first = wallet.broadcast(
        BroadcastRequest(user_id=user_id, transaction_id=record.id, raw_transaction=sign(record.transactions[0], key))
    )
    receipt = wait_for_receipt(client, first.hash)
    # And the receipt poll has read the row (approve submitted, supply not sent yet)
    polled = wallet.get(user_id, record.id)
    # When the supply is relayed before the poll writes its confirmation of the approve
    second = wallet.broadcast(
        BroadcastRequest(user_id=user_id, transaction_id=record.id, raw_transaction=sign(record.transactions[1], key))
    )
    confirmed = [
        t.model_copy(update={"status": "confirmed"}) if i == 0 else t for i, t in enumerate(polled.transactions)
    ]
    saved = wallet.store.save_progress(polled, confirmed, block_number=int(receipt["blockNumber"], 16))
    # Then both writes survive: the approve confirmed, the supply still sent with its hash
    assert [t.status for t in saved.transactions] == ["confirmed", "submitted"]
    assert saved.transactions[1].hash == second.hash
    assert saved.status == "submitted"
    # And the next poll tracks the supply to confirmation
    wait_for_receipt(client, second.hash)
    wallet.poll(PollRequest())
    assert wallet.get(user_id, record.id).status == "confirmed"


def test_a_stale_broadcast_does_not_take_back_a_confirmation(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given an approve + supply whose approve is relayed, and a broadcast that read the row then
    user_id, key, record = _prepared_supply(wallet, db, devnet)
    client = devnet.client()
    first = wallet.broadcast(
        BroadcastRequest(user_id=user_id, transaction_id=record.id, raw_transaction=sign(record.transactions[0], key))
    )
    wait_for_receipt(client, first.hash)
    stale = wallet.get(user_id, record.id)
    # When the poll confirms the approve, and the stale writer then records the supply as sent
    wallet.poll(PollRequest())
    assert [t.status for t in wallet.get(user_id, record.id).transactions] == ["confirmed", "prepared"]
    sent = [
        t.model_copy(update={"status": "submitted", "hash": "0x" + "ab" * 32}) if i == 1 else t
        for i, t in enumerate(stale.transactions)
    ]
    saved = wallet.store.save_progress(stale, sent, tx_hash="0x" + "ab" * 32)
    # Then the approve stays confirmed and the supply is recorded
    assert [t.status for t in saved.transactions] == ["confirmed", "submitted"]
    assert saved.transactions[1].hash == "0x" + "ab" * 32
