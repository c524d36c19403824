"""The template's EventBridge schedules, fired locally at their rates (rate expressions only)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.template import TemplateModel


class ScheduleRunner:
    """Fires the template's EventBridge schedules (rate expressions) at their rates."""

    def __init__(self, template: TemplateModel, invoker: LocalInvoker, *, log: Callable[[str], None] = print) -> None:
        self.template = template
        self.invoker = invoker
        self.log = log
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def scheduled_event(rule_name: str) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            # EventBridge stamps the scheduled time at whole seconds.
            "time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule_name}"],
            "detail": {},
        }

    def fire(self, schedule_function: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        event = payload if payload is not None else self.scheduled_event(name)
        result = self.invoker.invoke(schedule_function, event)
        ok = isinstance(result, dict) and result.get("ok", True)
        self.log(f"[schedule] {name}: {'ok' if ok else result}")
        return result

    def start(self, *, first_delay: float = 2.0, interval_override: float | None = None) -> None:
        for schedule in self.template.schedules:
            interval = interval_override or schedule.interval_seconds
            if interval is None:
                self.log(f"[schedule] {schedule.name}: {schedule.expression} is not a rate(); not fired locally")
                continue
            thread = threading.Thread(
                target=self._loop,
                args=(schedule.function, schedule.name, interval, first_delay, schedule.input),
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _loop(
        self, function: str, name: str, interval: float, first_delay: float, payload: dict[str, Any] | None = None
    ) -> None:
        if self._stop.wait(first_delay):
            return
        while not self._stop.is_set():
            try:
                self.fire(function, name, payload)
            except Exception as exc:  # a failed tick is logged and retried next time, as EventBridge would
                self.log(f"[schedule] {name} failed: {type(exc).__name__}: {exc}")
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
