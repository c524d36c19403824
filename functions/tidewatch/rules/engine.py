"""Vectorised rule evaluation: every rule of a tick against one snapshot, with numpy arrays.

Predicates are grouped by kind and their values looked up in bulk (searchsorted over the
snapshot's sorted keys); one comparison then decides all of them. Per-rule results come from
scatter (trigger) and bincount (all/any conditions). Cooldown and hysteresis are array masks too,
so the cost per tick is a handful of numpy passes however many rules there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tidewatch.rules.ruleset import (
    KIND_APY_SPREAD,
    KIND_HEALTH_FACTOR,
    KIND_MARKET_APY,
    KIND_PRICE_CHANGE,
    KIND_RISK,
    MODE_ALL,
    MODE_NONE,
    SIDE_SUPPLY,
    RuleSet,
)
from tidewatch.rules.snapshot import FloatArray, TickSnapshot

BoolArray = npt.NDArray[np.bool_]

# Values within this of the threshold count as equal to it, so float noise (0.05 - 0.04 is
# 0.010000000000000002) never fires a rule sitting exactly on its boundary. Far below any
# meaningful APY, price or probability precision.
TOLERANCE = 1e-12


def window_key(cadence_seconds: int, epoch_seconds: float) -> str:
    """The evaluation window a time falls in: a rule fires at most once per window (idempotency)."""
    return f"{cadence_seconds}:{int(epoch_seconds // cadence_seconds)}"


def due_mask(rules: RuleSet, epoch_seconds: float, tick_seconds: int = 60) -> BoolArray:
    """Rules whose cadence window starts within this scheduled tick (stateless, no per-rule writes)."""
    start = (epoch_seconds // tick_seconds) * tick_seconds
    return (start % rules.cadence) < tick_seconds


def predicate_values(rules: RuleSet, snap: TickSnapshot) -> FloatArray:
    """The observed value of every predicate (NaN where the data is missing), kind by kind."""
    values = np.full(rules.kind.shape, np.nan)

    def apy(idx: npt.NDArray[np.int64], markets: npt.NDArray[np.int64]) -> FloatArray:
        return np.where(rules.side[idx] == SIDE_SUPPLY, snap.supply_apy.get(markets), snap.borrow_apy.get(markets))

    idx = rules.groups[KIND_MARKET_APY]
    if idx.size:
        values[idx] = apy(idx, rules.market_a[idx])
    idx = rules.groups[KIND_APY_SPREAD]
    if idx.size:
        values[idx] = apy(idx, rules.market_a[idx]) - apy(idx, rules.market_b[idx])
    idx = rules.groups[KIND_HEALTH_FACTOR]
    if idx.size:
        values[idx] = snap.health_factors.get(rules.pred_portfolio[idx])
    idx = rules.groups[KIND_RISK]
    if idx.size:
        horizons = rules.horizon[idx]
        for horizon, table in snap.risk.items():
            on = horizons == horizon
            values[idx[on]] = table.get(rules.pred_portfolio[idx[on]])
    idx = rules.groups[KIND_PRICE_CHANGE]
    if idx.size:
        changes = np.array([snap.price_change(w) for w in rules.price_windows], dtype=np.float64)
        values[idx] = changes[rules.price_idx[idx]]
    return values


@dataclass(frozen=True)
class Evaluation:
    """Per-rule outcome of one tick (arrays aligned with the RuleSet)."""

    trigger_value: FloatArray
    trigger_active: BoolArray
    conditions_ok: BoolArray
    cleared: BoolArray  # the trigger is back past threshold ± hysteresis: a disarmed rule re-arms
    cooling_down: BoolArray
    fire: BoolArray
    rearm: BoolArray

    @property
    def matched(self) -> BoolArray:
        return self.trigger_active & self.conditions_ok


def evaluate(rules: RuleSet, snap: TickSnapshot, now_epoch: float, due: BoolArray | None = None) -> Evaluation:
    n = len(rules)
    values = predicate_values(rules, snap)
    observed = np.where(rules.use_abs, np.abs(values), values)
    distance = rules.sign * (observed - rules.threshold)  # > 0: condition holds; NaN: unknown
    with np.errstate(invalid="ignore"):
        active = distance > TOLERANCE
        cleared = distance <= TOLERANCE - rules.hysteresis

    trig = rules.is_trigger
    trigger_active = np.zeros(n, dtype=np.bool_)
    trigger_cleared = np.zeros(n, dtype=np.bool_)
    trigger_value = np.full(n, np.nan)
    trigger_active[rules.rule_pos[trig]] = active[trig]
    trigger_cleared[rules.rule_pos[trig]] = cleared[trig]
    trigger_value[rules.rule_pos[trig]] = values[trig]

    cond = ~trig
    counts = np.bincount(rules.rule_pos[cond], minlength=n)
    holding = np.bincount(rules.rule_pos[cond], weights=active[cond], minlength=n)
    conditions_ok = np.where(
        rules.mode == MODE_NONE, True, np.where(rules.mode == MODE_ALL, holding == counts, holding > 0)
    )

    never = np.isnan(rules.last_fired)
    cooling_down = ~never & (now_epoch - np.where(never, 0.0, rules.last_fired) < rules.cooldown)
    fire = rules.armed & trigger_active & conditions_ok & ~cooling_down
    rearm = ~rules.armed & trigger_cleared
    if due is not None:
        fire &= due
        rearm &= due
    return Evaluation(
        trigger_value=trigger_value,
        trigger_active=trigger_active,
        conditions_ok=conditions_ok.astype(np.bool_),
        cleared=trigger_cleared,
        cooling_down=cooling_down,
        fire=fire,
        rearm=rearm,
    )
