"""The local EventBridge: events that functions publish reach the functions the template routes
them to, wrapped in the envelope EventBridge delivers.

In AWS, ingest calls PutEvents and an EventBridge rule (an `EventBridgeRule` event of the rules
function in template.yaml) invokes the rules function. Locally, ingest publishes on a Redis pub/sub
channel (`TIDEWATCH_PUBLISH_MODE=local`); this bridge listens there and invokes the target function
in-process with the same envelope, matched against the same patterns from the template.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from tidewatch.events import MARKET_CHANGED_CHANNEL, MARKET_CHANGED_DETAIL_TYPE, MARKET_CHANGED_SOURCE
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.template import TemplateModel


def envelope(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "000000000000",
        "time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


class LocalEventBus:
    def __init__(
        self, template: TemplateModel, invoker: LocalInvoker, redis_url: str, *, log: Callable[[str], None] = print
    ) -> None:
        self.template = template
        self.invoker = invoker
        self.redis_url = redis_url
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver(self, event: dict[str, Any]) -> list[Any]:
        """Invoke every function whose rule matches `event`; return their results."""
        results = []
        for rule in self.template.event_rules:
            if rule.matches(event):
                try:
                    results.append(self.invoker.invoke(rule.function, event))
                except Exception as exc:  # EventBridge would retry and then dead-letter; locally we log
                    self.log(f"[events] {rule.function} failed on {event['detail-type']}: {type(exc).__name__}: {exc}")
        return results

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, daemon=True, name="local-eventbus")
        self._thread.start()

    def _listen(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(MARKET_CHANGED_CHANNEL)
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=1.0)
            if not message or message.get("type") != "message":
                continue
            try:
                detail = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            self.deliver(envelope(MARKET_CHANGED_SOURCE, MARKET_CHANGED_DETAIL_TYPE, detail))
        pubsub.close()
        client.close()

    def stop(self) -> None:
        self._stop.set()
