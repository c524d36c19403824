"""The reference evaluator: one rule at a time, plain Python, same semantics as the engine.

Used for dry runs (`POST /rules/{id}/test`, where it explains each predicate), as the oracle the
vectorised engine is tested against, and as the naive baseline in bench/bench_rules.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tidewatch.rules.engine import TOLERANCE
from tidewatch.rules.model import (
    ApySpreadTrigger,
    HealthFactorTrigger,
    MarketApyTrigger,
    PriceChangeTrigger,
    RiskForecastTrigger,
)
from tidewatch.rules.ruleset import RuleRecord
from tidewatch.rules.snapshot import PriceWindow, TickSnapshot


@dataclass(frozen=True)
class SnapshotView:
    """The snapshot as dicts, for cheap scalar lookups."""

    supply: dict[int, float]
    borrow: dict[int, float]
    hf: dict[int, float]
    risk: dict[tuple[int, int], float]
    prices: dict[PriceWindow, float]

    @classmethod
    def of(cls, snap: TickSnapshot) -> SnapshotView:
        return cls(
            supply=dict(snap.supply_apy.items()),
            borrow=dict(snap.borrow_apy.items()),
            hf=dict(snap.health_factors.items()),
            risk={(p, h): v for h, table in snap.risk.items() for p, v in table.items()},
            prices=dict(snap.price_changes),
        )


@dataclass(frozen=True)
class PredicateOutcome:
    type: str
    value: float | None
    threshold: float
    holds: bool
    cleared: bool


@dataclass(frozen=True)
class RuleOutcome:
    trigger: PredicateOutcome
    conditions: list[PredicateOutcome] = field(default_factory=list)
    conditions_ok: bool = True
    cooling_down: bool = False
    fire: bool = False
    rearm: bool = False

    def explain(self) -> dict[str, Any]:
        return {
            "would_fire": self.fire,
            "matched": self.trigger.holds and self.conditions_ok,
            "cooling_down": self.cooling_down,
            "trigger": self.trigger.__dict__,
            "conditions": [c.__dict__ for c in self.conditions],
            "conditions_ok": self.conditions_ok,
        }


def _predicate(trigger: object, portfolio_id: int | None, view: SnapshotView) -> PredicateOutcome:
    nan = math.nan
    if isinstance(trigger, MarketApyTrigger):
        table = view.supply if trigger.side == "supply" else view.borrow
        value, sign, threshold = (
            table.get(trigger.market_id, nan),
            (1 if trigger.op == "above" else -1),
            trigger.threshold,
        )
    elif isinstance(trigger, ApySpreadTrigger):
        table = view.supply if trigger.side == "supply" else view.borrow
        value = table.get(trigger.market_id, nan) - table.get(trigger.other_market_id, nan)
        sign, threshold = (1 if trigger.op == "above" else -1), trigger.threshold
    elif isinstance(trigger, HealthFactorTrigger):
        value, sign, threshold = view.hf.get(portfolio_id or 0, nan), -1, trigger.threshold
    elif isinstance(trigger, RiskForecastTrigger):
        value, sign, threshold = view.risk.get((portfolio_id or 0, trigger.horizon_hours), nan), 1, trigger.threshold
    elif isinstance(trigger, PriceChangeTrigger):
        value = view.prices.get((trigger.chain_id, trigger.asset, trigger.window_seconds), nan)
        if trigger.op == "rises":
            sign, threshold = 1, trigger.threshold
        elif trigger.op == "falls":
            sign, threshold = -1, -trigger.threshold
        else:
            value, sign, threshold = abs(value), 1, trigger.threshold
    else:  # pragma: no cover - closed union
        raise TypeError(f"unknown trigger {trigger!r}")
    distance = sign * (value - threshold)
    hysteresis = trigger.hysteresis
    known = not math.isnan(value)
    return PredicateOutcome(
        type=trigger.type,
        value=value if known else None,
        threshold=threshold,
        holds=known and distance > TOLERANCE,
        cleared=known and distance <= TOLERANCE - hysteresis,
    )


def evaluate_one(rule: RuleRecord, view: SnapshotView, now_epoch: float, *, due: bool = True) -> RuleOutcome:
    trigger = _predicate(rule.definition.trigger, rule.portfolio_id, view)
    group = rule.definition.conditions
    conditions = [_predicate(item, rule.portfolio_id, view) for item in (group.items if group else [])]
    if group is None:
        conditions_ok = True
    elif group.mode == "all":
        conditions_ok = all(c.holds for c in conditions)
    else:
        conditions_ok = any(c.holds for c in conditions)
    last = rule.last_fired_at.timestamp() if rule.last_fired_at else None
    cooling_down = last is not None and now_epoch - last < rule.cooldown_seconds
    return RuleOutcome(
        trigger=trigger,
        conditions=conditions,
        conditions_ok=conditions_ok,
        cooling_down=cooling_down,
        fire=due and rule.armed and trigger.holds and conditions_ok and not cooling_down,
        rearm=due and not rule.armed and trigger.cleared,
    )
