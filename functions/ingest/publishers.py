"""EventBridge publisher of "market changed" events (AWS); boto3 is imported only when used."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidewatch.events import MARKET_CHANGED_DETAIL_TYPE, MARKET_CHANGED_SOURCE, MarketChanged

_MAX_ENTRIES = 10  # PutEvents accepts at most 10 entries per call


class EventBridgePublisher:
    def __init__(self, bus_name: str, client: Any = None) -> None:
        self._bus = bus_name
        self._client = client

    def _events(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("events")
        return self._client

    def publish(self, events: Sequence[MarketChanged]) -> None:
        entries = [
            {
                "Source": MARKET_CHANGED_SOURCE,
                "DetailType": MARKET_CHANGED_DETAIL_TYPE,
                "Detail": event.model_dump_json(),
                "EventBusName": self._bus,
                "Resources": [],
            }
            for event in events
        ]
        for i in range(0, len(entries), _MAX_ENTRIES):
            response = self._events().put_events(Entries=entries[i : i + _MAX_ENTRIES])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge rejected {response['FailedEntryCount']} market events")
