"""Transaction status changes pushed live to their owner (the wallet's `StatusListener`)."""

from __future__ import annotations

from typing import Any

from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.pushes import TransactionStatusPush, push


class TransactionStatusPusher:
    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster

    def transaction_changed(self, user_id: int, record: Any) -> None:
        message = TransactionStatusPush(
            transaction_id=str(record.id),
            status=record.status,
            chain_id=record.chain_id,
            summary=record.summary,
            tx_hash=record.tx_hash,
        )
        self._broadcaster.push_to_user(user_id, push(message))
