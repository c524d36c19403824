"""One evaluation tick: load rules, take one snapshot, evaluate in bulk, claim firings, act.

Called by the rules function for the EventBridge schedule (every due rule) and for "market
changed" events (only rules that look at a changed market, or at prices). The evaluation window
comes from the event's own time, so a redelivered event maps to the same (rule, window) rows and
fires nothing twice.

A rule that cannot be evaluated (its stored definition is out of the columns' ranges or refused by
the rule model) or whose action can never be stored is disabled with its reason, its owner gets a
`rule_disabled` notification, and the `RuleDisabled` metric counts it; every other rule is evaluated
and fires as usual.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from tidewatch.db import Database
from tidewatch.live.pushes import NotificationPush, push
from tidewatch.observability import MetricUnit, logger, metrics
from tidewatch.rules.actions import ActionRunner, Firing
from tidewatch.rules.engine import due_mask, evaluate, window_key
from tidewatch.rules.ruleset import RuleSet
from tidewatch.rules.snapshot import HealthFactorSource, MarketSnapshotSource, RiskScorer, take_snapshot
from tidewatch.rules.store import Claim, RuleCache, claim_firings, disable_rules, reason_text
from tidewatch.rules.webhooks import WebhookSender


@dataclass(frozen=True)
class TickSources:
    markets: MarketSnapshotSource
    positions: HealthFactorSource | None = None
    risk: RiskScorer | None = None


@dataclass(frozen=True)
class TickReport:
    at: str
    rules: int
    evaluated: int
    matched: int
    fired: int
    duplicates: int
    rearmed: int
    action_failures: int
    webhook_retries: int
    actions_retried: int
    disabled: int
    load_ms: float
    evaluate_ms: float
    claim_ms: float = 0.0
    actions_ms: float = 0.0


def run_tick(
    *,
    at: datetime,
    database: Database,
    sources: TickSources,
    runner: ActionRunner,
    changed_markets: Sequence[int] | None = None,
    webhooks: WebhookSender | None = None,
    rules: RuleSet | None = None,
    cache: RuleCache | None = None,
    retry_unfinished: bool = True,
) -> TickReport:
    started = time.perf_counter()
    rejected: dict[int, str] = {}
    if rules is None:
        loaded_rules = (cache or RuleCache()).load_checked(database)
        rules, rejected = loaded_rules.rules, dict(loaded_rules.rejected)
    loaded = time.perf_counter()
    now = at.timestamp()
    due = due_mask(rules, now) if changed_markets is None else rules.referencing_markets(changed_markets)
    snapshot = take_snapshot(
        rules.needs(due), at=at, markets=sources.markets, positions=sources.positions, risk=sources.risk
    )
    result = evaluate(rules, snapshot, now, due)
    evaluated = time.perf_counter()

    fire_idx = np.flatnonzero(result.fire)
    claims = [
        Claim(
            rule_id=int(rules.rule_id[i]),
            window_key=window_key(int(rules.cadence[i]), now),
            observed={"trigger_value": _finite(result.trigger_value[i]), "at": at.isoformat()},
        )
        for i in fire_idx
    ]
    rearm_ids = rules.rule_id[result.rearm].tolist()
    claimed = claim_firings(database, claims, rearm_ids, at, rejected)
    claimed_at = time.perf_counter()
    firings = [
        Firing(
            execution_id=c.execution_id,
            rule_id=c.rule_id,
            user_id=c.user_id,
            portfolio_id=c.portfolio_id,
            rule_name=c.name,
            window_key=c.window_key,
            fired_at=at,
            observed=c.observed,
            actions=c.definition.actions,
        )
        for c in claimed
    ]
    results = runner.run(firings)
    acted = time.perf_counter()
    failures = sum(1 for rs in results.values() for r in rs if not r.ok)
    for firing in firings:
        permanent = [r for r in results.get(firing.execution_id, []) if r.permanent]
        if permanent:
            rejected[firing.rule_id] = reason_text(f"{permanent[0].type} action failed: {permanent[0].error}")
    disabled = _disable(database, runner, rejected)
    retried = webhooks.retry_due() if webhooks is not None else []
    # Scheduled ticks also finish earlier firings whose actions failed or never ran (a sharded
    # tick leaves that to its coordinator, once, instead of to every shard).
    actions_retried = runner.retry_unfinished(now=at) if (changed_markets is None and retry_unfinished) else 0

    metrics.add_metric(name="RulesEvaluated", unit=MetricUnit.Count, value=int(due.sum()))
    metrics.add_metric(name="RuleFired", unit=MetricUnit.Count, value=len(firings))
    if failures:
        metrics.add_metric(name="RuleActionFailed", unit=MetricUnit.Count, value=failures)
    report = TickReport(
        at=at.isoformat(),
        rules=len(rules),
        evaluated=int(due.sum()),
        matched=int((result.matched & due).sum()),
        fired=len(firings),
        duplicates=len(claims) - len(claimed),
        rearmed=len(rearm_ids),
        action_failures=failures,
        webhook_retries=len(retried),
        actions_retried=actions_retried,
        disabled=disabled,
        load_ms=round((loaded - started) * 1000, 2),
        evaluate_ms=round((evaluated - loaded) * 1000, 2),
        claim_ms=round((claimed_at - evaluated) * 1000, 2),
        actions_ms=round((acted - claimed_at) * 1000, 2),
    )
    logger.info("rules tick", extra={"report": report.__dict__})
    return report


def _disable(database: Database, runner: ActionRunner, rejected: dict[int, str]) -> int:
    """Disable the rules that cannot run, tell their owners (stored and live), count them."""
    if not rejected:
        return 0
    disabled = disable_rules(database, rejected)
    for rule in disabled:
        logger.warning("rule disabled", extra={"rule_id": rule.rule_id, "reason": rule.reason})
        message = NotificationPush(
            id=rule.notification_id,
            title=f"Rule '{rule.name}' was disabled",
            body={"event": "rule.disabled", "rule_id": rule.rule_id, "reason": rule.reason},
        )
        runner.push(rule.user_id, push(message))
    if disabled:
        metrics.add_metric(name="RuleDisabled", unit=MetricUnit.Count, value=len(disabled))
    return len(disabled)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
