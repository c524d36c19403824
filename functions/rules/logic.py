"""Rules function logic: a scheduled tick or a "market changed" event → one evaluation tick."""

from __future__ import annotations

from typing import Any

from rules.deps import RulesDeps
from tidewatch.events import ScheduledEvent
from tidewatch.observability import logger
from tidewatch.rules.events import MarketChangedEvent
from tidewatch.rules.tick import run_tick


def evaluate_scheduled(event: ScheduledEvent, *, deps: RulesDeps) -> dict[str, Any]:
    """Every rule whose cadence is due at the event's time (the window comes from the event)."""
    report = run_tick(
        at=event.time,
        database=deps.database,
        sources=deps.sources,
        runner=deps.runner,
        webhooks=deps.webhooks,
        cache=deps.rule_cache,
    )
    return {"trigger": "schedule", "event_id": event.id, **report.__dict__}


def evaluate_market_changed(event: MarketChangedEvent, *, deps: RulesDeps) -> dict[str, Any]:
    """Push the new rates live, then evaluate the rules that look at the changed market.

    The evaluation window comes from the block's observation time, so a redelivered event (or the
    schedule in the same window) cannot fire a rule twice.
    """
    detail = event.detail
    pushed = 0
    if deps.broadcaster is not None:
        try:
            pushed = deps.broadcaster.publish_market(detail.market_id, detail.live_update()).delivered
        except Exception as exc:  # live updates are best effort; rules must still run
            logger.warning("market push failed", extra={"market_id": detail.market_id, "error": str(exc)})
    report = run_tick(
        at=detail.observed_at,
        database=deps.database,
        sources=deps.sources,
        runner=deps.runner,
        changed_markets=[detail.market_id],
        cache=deps.rule_cache,
    )
    return {"trigger": "market_changed", "event_id": event.id, "pushed": pushed, **report.__dict__}
