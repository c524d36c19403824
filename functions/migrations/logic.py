"""Database migrations on deploy: a CloudFormation custom resource, or a direct invoke from a pipeline.

Create and Update apply every pending migration (`tidewatch.migrate.apply_migrations`, idempotent,
under an advisory lock); Delete leaves the database alone (the data outlives the stack's resource).
The custom resource always answers CloudFormation, FAILED with the error as reason, so a failed
migration rolls the deploy back instead of stalling it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from migrations.cfn import CustomResourceEvent, ResponseSender, response_body
from tidewatch.observability import logger

# One resource per stack; a stable id means an Update never looks like a replacement to CloudFormation.
PHYSICAL_RESOURCE_ID = "tidewatch-migrations"

Migrate = Callable[[], list[str]]


def retrying(
    migrate: Migrate,
    *,
    is_transient: Callable[[Exception], bool],
    give_up_after_seconds: float,
    wait_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Migrate:
    """`migrate`, retried while the database is unreachable (on a first deploy RDS Proxy may still be
    registering its target when CloudFormation runs the custom resource). Other errors are final."""

    def run() -> list[str]:
        deadline = clock() + give_up_after_seconds
        while True:
            try:
                return migrate()
            except Exception as exc:
                if not is_transient(exc) or clock() + wait_seconds > deadline:
                    raise
                logger.warning("database not reachable yet; retrying", extra={"error": str(exc)})
                sleep(wait_seconds)

    return run


class MigrateRequest(BaseModel):
    """A direct invoke (`aws lambda invoke --payload '{"action": "migrate"}'`), e.g. from a pipeline."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["migrate"]


class _Responder:
    """Answers CloudFormation exactly once, from the handler or from the deadline watchdog."""

    def __init__(self, event: CustomResourceEvent, send: ResponseSender) -> None:
        self._event = event
        self._send = send
        self._lock = threading.Lock()
        self.answered = False

    def answer(self, status: Literal["SUCCESS", "FAILED"], reason: str, data: dict[str, Any] | None = None) -> bool:
        with self._lock:
            if self.answered:
                return False
            self.answered = True
        body = response_body(
            self._event, status=status, physical_resource_id=PHYSICAL_RESOURCE_ID, reason=reason, data=data
        )
        try:
            self._send(self._event.response_url, body)
        except Exception:  # the deploy stalls until CloudFormation's own timeout; say so loudly
            logger.exception("could not answer CloudFormation", extra={"status": status})
        return True


def handle_custom_resource(
    event: CustomResourceEvent,
    *,
    migrate: Migrate,
    send: ResponseSender,
    seconds_left: float | None = None,
) -> dict[str, Any]:
    """Run the request and answer CloudFormation; never raises (a raise would leave the deploy waiting).

    `seconds_left` arms a watchdog that answers FAILED shortly before Lambda's timeout, e.g. when the
    advisory lock is held by a stuck runner, so the deploy rolls back in minutes instead of an hour.
    """
    responder = _Responder(event, send)
    watchdog: threading.Timer | None = None
    if seconds_left is not None:
        watchdog = threading.Timer(
            max(seconds_left - 10.0, 0.0),
            responder.answer,
            args=("FAILED", "migrations did not finish before the function timeout"),
        )
        watchdog.daemon = True
        watchdog.start()
    try:
        if event.request_type == "Delete":
            responder.answer("SUCCESS", "migrations are not reverted on delete")
            return {"status": "SUCCESS", "applied": []}
        try:
            applied = migrate()
        except Exception as exc:
            logger.exception("migrations failed", extra={"request_type": event.request_type})
            responder.answer("FAILED", f"migrations failed: {type(exc).__name__}: {exc}")
            return {"status": "FAILED", "applied": []}
        logger.info("migrations applied", extra={"applied": applied})
        reason = f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
        responder.answer("SUCCESS", reason, {"Applied": len(applied)})
        return {"status": "SUCCESS", "applied": applied}
    finally:
        if watchdog is not None:
            watchdog.cancel()


def handle_direct(request: MigrateRequest, *, migrate: Migrate) -> dict[str, Any]:
    """A pipeline's invoke: failures raise, so `aws lambda invoke` reports FunctionError."""
    applied = migrate()
    logger.info("migrations applied", extra={"applied": applied})
    return {"applied": applied}
