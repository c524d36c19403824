"""The wallet function's requests and their dispatch to the wallet service."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from tidewatch.events import HealthRequest, ScheduledEvent
from tidewatch.health import check_health
from tidewatch.transactions.models import BroadcastRequest, PollRequest, PrepareRequest
from tidewatch.transactions.service import WalletService


def _action(value: Any) -> str | None:
    """The request kind; a payload with an intent and no action is a prepare (the rules function's)."""
    if isinstance(value, dict):
        return value.get("action") or ("prepare" if "intent" in value else None)
    return getattr(value, "action", None)


WalletRequest = Annotated[
    Annotated[PrepareRequest, Tag("prepare")]
    | Annotated[BroadcastRequest, Tag("broadcast")]
    | Annotated[PollRequest, Tag("poll")]
    | Annotated[HealthRequest, Tag("health")],
    Discriminator(_action),
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
