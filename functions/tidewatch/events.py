"""Event shapes shared by functions: EventBridge envelopes, the "market changed" event and the
health-check request. Each event has one model here, imported by its producer and its consumers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tidewatch.protocols.slugs import ProtocolSlug

MARKET_CHANGED_SOURCE = "tidewatch.ingest"
MARKET_CHANGED_DETAIL_TYPE = "market.changed"
# The local run's stand-in for EventBridge: ingest publishes each detail on this Redis channel and
# the local event bus delivers it to the rules function in the EventBridge envelope.
MARKET_CHANGED_CHANNEL = "tw:events:market-changed"

# What WebSocket subscribers of `markets` / `market:<id>` receive, in this order; rates and prices
# go out as JSON numbers (the dashboard plots them), the rest as in the event.
_LIVE_FIELDS = ("market_id", "chain_id", "block_number", "observed_at", "protocol", "market_key", "asset_symbol")
_LIVE_NUMBERS = ("supply_apy", "borrow_apy", "utilization", "price_usd")


class ScheduledEvent(BaseModel):
    """An EventBridge "Scheduled Event" (the shape EventBridge delivers to a Lambda target)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    source: Literal["aws.events"]
    time: datetime
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


class MarketChanged(BaseModel):
    """A market's state at a new block differs from the previous one Tidewatch saw.

    Ingest publishes one per changed market (the `detail` of an EventBridge event with source
    `tidewatch.ingest` and detail-type `market.changed`); the rules function reads it to push the
    new rates live and evaluate the rules watching the market. Rates and prices are Decimals
    (JSON strings on the wire), amounts exact base-unit integers.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["market.changed"] = "market.changed"
    market_id: int
    chain_id: int
    protocol: ProtocolSlug
    market_key: str
    asset_symbol: str
    block_number: int
    observed_at: datetime
    supply_apy: Decimal | None = None
    borrow_apy: Decimal | None = None
    utilization: Decimal | None = None
    price_usd: Decimal | None = None
    total_supplied: int | None = None
    total_borrowed: int | None = None
    previous: dict[str, Any] | None = None  # the previous snapshot's headline values, if known

    @property
    def topic(self) -> str:
        """The market's name in logs: chain, protocol and market key."""
        return f"market:{self.chain_id}:{self.protocol}:{self.market_key.lower()}"

    def live_update(self) -> dict[str, object]:
        """What WebSocket subscribers of `markets` / `market:<id>` receive (absent values left out)."""
        data = self.model_dump(mode="json", include=set(_LIVE_FIELDS))
        update: dict[str, object] = {k: data[k] for k in _LIVE_FIELDS}
        for name in _LIVE_NUMBERS:
            value = getattr(self, name)
            if value is not None:
                update[name] = float(value)
        return update


class MarketChangedEvent(BaseModel):
    """EventBridge envelope of a "market changed" event (the local event bus wraps it the same way)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["market.changed"] = Field(alias="detail-type")
    source: Literal["tidewatch.ingest"]
    time: datetime
    detail: MarketChanged


class AlertDeliveryMessage(BaseModel):
    """An SQS message of the alert delivery queue: send one row of the delivery outbox.

    The rules function (and the alerts function, for a retry with backoff) queues it; the alerts
    function sends the delivery it names.
    """

    model_config = ConfigDict(frozen=True)

    delivery_id: int


class HealthRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["health"]
