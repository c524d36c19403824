"""Messages the server pushes to WebSocket clients, one model each (the dashboard reads them).

Public market updates go to `markets` / `market:<id>` subscribers; notifications, prepared
transactions and transaction status changes only to their owner's `notifications` subscribers;
portfolio updates to the owner's `portfolio:<id>` subscribers. Replies to a client's own
subscribe/unsubscribe messages are in `tidewatch.live.messages`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Push(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketPush(_Push):
    """A market's new state (`tidewatch.events.MarketChanged.live_update`)."""

    type: Literal["market"] = "market"
    market_id: int
    data: dict[str, Any]


class PortfolioPush(_Push):
    type: Literal["portfolio"] = "portfolio"
    portfolio_id: int
    data: dict[str, Any]


class NotificationPush(_Push):
    """A stored notification (GET /notifications lists it too): a rule fired or was disabled."""

    type: Literal["notification"] = "notification"
    id: int
    title: str
    body: dict[str, Any]


class TransactionPreparedPush(_Push):
    """A rule's prepare-transaction action left transactions for the owner to sign."""

    type: Literal["transaction_prepared"] = "transaction_prepared"
    rule_id: int
    transaction_id: str
    summary: str


class TransactionStatusPush(_Push):
    """A prepared transaction moved on (submitted, confirmed, failed, replaced)."""

    type: Literal["transaction_status"] = "transaction_status"
    transaction_id: str
    status: str
    chain_id: int
    summary: str
    tx_hash: str | None = None


LivePush = Annotated[
    MarketPush | PortfolioPush | NotificationPush | TransactionPreparedPush | TransactionStatusPush,
    Field(discriminator="type"),
]


def push(message: _Push) -> dict[str, Any]:
    """The JSON-ready dict a broadcaster sends."""
    return message.model_dump(mode="json")
