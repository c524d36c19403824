"""The wallet function's requests and their dispatch to the wallet service."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.health import check_health
from tidewatch.transactions.models import BroadcastRequest, PollRequest, PrepareRequest
from tidewatch.transactions.service import WalletService

WalletRequest = Annotated[
    PrepareRequest | BroadcastRequest | PollRequest | HealthRequest, Field(discriminator="action")
]
# EventBridge's scheduled receipt polling arrives as a "Scheduled Event" (no `action` key).
WalletEvent = Annotated[ScheduledEvent | WalletRequest, Field(union_mode="left_to_right")]


def handle(event: ScheduledEvent | PrepareRequest | BroadcastRequest | PollRequest, service: WalletService) -> Any:
    if isinstance(event, PrepareRequest):
        return service.prepare(event)
    if isinstance(event, BroadcastRequest):
        return service.broadcast(event)
    if isinstance(event, PollRequest):
        return service.poll(event)
    return service.poll(PollRequest())


def health(service_database: Any) -> dict[str, Any]:
    return check_health(service_database, None)
