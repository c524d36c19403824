"""Collaborators of the alerts function, built once per container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tidewatch import runtime
from tidewatch.alerts.outbox import DeliveryQueue, DeliveryWorker
from tidewatch.alerts.settings import AlertsSettings, delivery_queue, delivery_worker
from tidewatch.db import Database


@dataclass(frozen=True)
class AlertsDeps:
    database: Database
    worker: DeliveryWorker
    queue: DeliveryQueue | None


def build_deps(database: Database, settings: AlertsSettings) -> AlertsDeps:
    return AlertsDeps(database, delivery_worker(database, settings), delivery_queue(database, settings))


@lru_cache(maxsize=1)
def production_deps() -> AlertsDeps:
    return build_deps(runtime.database(), AlertsSettings())
