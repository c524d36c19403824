"""Rules compiled into columns (numpy arrays) for vectorised evaluation.

A rule is flattened into predicates: its trigger plus each extra condition. Each predicate is one
row of `PredicateColumns`; `rule_pos` says which rule it belongs to. The Postgres loader produces
the same rows straight from SQL (no per-rule pydantic parsing on the hot path); `compile_records`
produces them from validated models (tests, dry runs, benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from tidewatch.rules.model import (
    ApySpreadTrigger,
    HealthFactorTrigger,
    MarketApyTrigger,
    PriceChangeTrigger,
    RiskForecastTrigger,
    RuleDefinition,
)
from tidewatch.rules.predicate_row import PredicateRow
from tidewatch.rules.snapshot import FloatArray, IntArray, PriceWindow, RiskRequest, SnapshotNeeds

# Predicate kinds and comparison operators as small integers (the SQL loader uses the same codes).
KIND_MARKET_APY, KIND_APY_SPREAD, KIND_HEALTH_FACTOR, KIND_RISK, KIND_PRICE_CHANGE = 0, 1, 2, 3, 4
KIND_CODES = {
    "market_apy": KIND_MARKET_APY,
    "apy_spread": KIND_APY_SPREAD,
    "health_factor_below": KIND_HEALTH_FACTOR,
    "risk_forecast_above": KIND_RISK,
    "price_change": KIND_PRICE_CHANGE,
}
OP_ABOVE, OP_BELOW, OP_RISES, OP_FALLS, OP_MOVES = 0, 1, 2, 3, 4
OP_CODES = {"above": OP_ABOVE, "below": OP_BELOW, "rises": OP_RISES, "falls": OP_FALLS, "moves": OP_MOVES}
SIDE_SUPPLY, SIDE_BORROW = 0, 1
MODE_NONE, MODE_ALL, MODE_ANY = 0, 1, 2
MODE_CODES = {"none": MODE_NONE, "all": MODE_ALL, "any": MODE_ANY}

# One rule row: (rule_id, user_id, portfolio_id or 0, cadence, cooldown, armed, last_fired epoch or NaN, mode)
RuleRow = tuple[int, int, int, int, int, bool, float, int]
# The column names (and dtypes) of the rule rows and of `PredicateRow`s, as `RuleSet.from_columns`
# takes them.
_RULE_DTYPES = (
    ("rule_id", np.int64),
    ("user_id", np.int64),
    ("portfolio_id", np.int64),
    ("cadence", np.int64),
    ("cooldown", np.int64),
    ("armed", np.bool_),
    ("last_fired", np.float64),
    ("mode", np.int8),
)
_PREDICATE_DTYPES = (
    ("rule_id", np.int64),
    ("is_trigger", np.bool_),
    ("kind", np.int8),
    ("market_a", np.int64),
    ("market_b", np.int64),
    ("side", np.int8),
    ("horizon", np.int64),
    ("chain_id", np.int64),
    ("asset", np.str_),
    ("window_seconds", np.int64),
    ("op", np.int8),
    ("threshold", np.float64),
    ("hysteresis", np.float64),
)
# Columns by name: a numpy record array or a dict of arrays.
Columns = Mapping[str, Any] | Any


def _text(asset: str | bytes) -> str:
    return asset.decode().rstrip() if isinstance(asset, bytes) else str(asset)


@dataclass(frozen=True)
class RuleRecord:
    """A stored rule with its evaluation state (what the engine needs of a `rules` row)."""

    rule_id: int
    user_id: int
    portfolio_id: int | None
    definition: RuleDefinition
    cadence_seconds: int = 60
    cooldown_seconds: int = 3600
    armed: bool = True
    last_fired_at: datetime | None = None


def predicate_row(rule_id: int, is_trigger: bool, portfolio_id: int | None, trigger: object) -> PredicateRow:
    market_a = market_b = side = horizon = chain = window = 0
    asset = ""
    if isinstance(trigger, MarketApyTrigger):
        kind, op, market_a = KIND_MARKET_APY, OP_CODES[trigger.op], trigger.market_id
        side = SIDE_SUPPLY if trigger.side == "supply" else SIDE_BORROW
    elif isinstance(trigger, ApySpreadTrigger):
        kind, op = KIND_APY_SPREAD, OP_CODES[trigger.op]
        market_a, market_b = trigger.market_id, trigger.other_market_id
        side = SIDE_SUPPLY if trigger.side == "supply" else SIDE_BORROW
    elif isinstance(trigger, HealthFactorTrigger):
        kind, op = KIND_HEALTH_FACTOR, OP_BELOW
    elif isinstance(trigger, RiskForecastTrigger):
        kind, op, horizon = KIND_RISK, OP_ABOVE, trigger.horizon_hours
    elif isinstance(trigger, PriceChangeTrigger):
        kind, op = KIND_PRICE_CHANGE, OP_CODES[trigger.op]
        chain, asset, window = trigger.chain_id, trigger.asset, trigger.window_seconds
    else:  # pragma: no cover - the model's discriminated union is closed
        raise TypeError(f"unknown trigger {trigger!r}")
    threshold = float(trigger.threshold)
    hysteresis = float(trigger.hysteresis)
    return PredicateRow(
        rule_id, is_trigger, kind, market_a, market_b, side, horizon, chain, asset, window, op, threshold, hysteresis
    )


def record_rows(records: Sequence[RuleRecord]) -> tuple[list[RuleRow], list[PredicateRow]]:
    """Flatten validated rules into the same rows the SQL loader returns."""
    rules: list[RuleRow] = []
    predicates: list[PredicateRow] = []
    for r in records:
        cond = r.definition.conditions
        last = r.last_fired_at.timestamp() if r.last_fired_at else float("nan")
        mode = MODE_NONE if cond is None else MODE_CODES[cond.mode]
        rules.append(
            (r.rule_id, r.user_id, r.portfolio_id or 0, r.cadence_seconds, r.cooldown_seconds, r.armed, last, mode)
        )
        predicates.append(predicate_row(r.rule_id, True, r.portfolio_id, r.definition.trigger))
        for item in cond.items if cond else []:
            predicates.append(predicate_row(r.rule_id, False, r.portfolio_id, item))
    return rules, predicates


@dataclass(frozen=True)
class RuleSet:
    """Enabled rules as columns (one entry per rule) plus their predicates (one entry per predicate)."""

    rule_id: IntArray
    user_id: IntArray
    portfolio_id: IntArray  # 0 when the rule has no portfolio
    cadence: IntArray
    cooldown: IntArray
    armed: npt.NDArray[np.bool_]
    last_fired: FloatArray  # epoch seconds, NaN if never
    mode: npt.NDArray[np.int8]
    # predicates
    rule_pos: IntArray
    is_trigger: npt.NDArray[np.bool_]
    kind: npt.NDArray[np.int8]
    market_a: IntArray
    market_b: IntArray
    side: npt.NDArray[np.int8]
    horizon: IntArray
    price_idx: IntArray  # index into `price_windows`, -1 when not a price predicate
    price_windows: tuple[PriceWindow, ...]
    sign: FloatArray  # +1 fires above the threshold, -1 below
    use_abs: npt.NDArray[np.bool_]
    threshold: FloatArray  # effective threshold (negated for "falls")
    hysteresis: FloatArray
    pred_portfolio: IntArray  # the owning rule's portfolio, per predicate
    groups: Mapping[int, IntArray]  # predicate kind -> positions of its predicates (computed once)

    def __len__(self) -> int:
        return int(self.rule_id.size)

    @classmethod
    def from_rows(cls, rules: Sequence[RuleRow], predicates: Sequence[PredicateRow]) -> RuleSet:
        """Columns from row tuples; rules must be sorted by id (the loader orders by id)."""
        r_cols = list(zip(*rules, strict=True)) if rules else [()] * 8
        p_cols = list(zip(*predicates, strict=True)) if predicates else [()] * len(PredicateRow._fields)
        rule_columns = {name: np.asarray(r_cols[i], dtype=dtype) for i, (name, dtype) in enumerate(_RULE_DTYPES)}
        p_dtypes = dict(_PREDICATE_DTYPES)
        predicate_columns = {
            name: np.asarray(column, dtype=p_dtypes[name])
            for name, column in zip(PredicateRow._fields, p_cols, strict=True)
        }
        return cls.from_columns(rule_columns, predicate_columns)

    @classmethod
    def from_columns(cls, rules: Columns, predicates: Columns) -> RuleSet:
        """From arrays named as in `_RULE_DTYPES` / `_PREDICATE_DTYPES` (record arrays or dicts):
        rules sorted by id, predicates grouped by rule. `asset` may be str or space-padded bytes."""
        rule_id = np.asarray(rules["rule_id"], dtype=np.int64)
        pred_rule = np.asarray(predicates["rule_id"], dtype=np.int64)
        kind = np.asarray(predicates["kind"], dtype=np.int8)
        op = np.asarray(predicates["op"], dtype=np.int8)
        threshold = np.asarray(predicates["threshold"], dtype=np.float64)
        # Intern price windows: few distinct (chain, asset, window) triples across many rules.
        price_idx = np.full(kind.shape, -1, dtype=np.int64)
        windows: tuple[PriceWindow, ...] = ()
        priced = np.flatnonzero(kind == KIND_PRICE_CHANGE)
        if priced.size:
            keys = np.rec.fromarrays(
                [
                    np.asarray(predicates["chain_id"])[priced],
                    np.asarray(predicates["asset"])[priced],
                    np.asarray(predicates["window_seconds"])[priced],
                ],
                names="chain,asset,window",
            )
            unique, inverse = np.unique(keys, return_inverse=True)
            price_idx[priced] = inverse.reshape(-1)
            windows = tuple((int(c), _text(a), int(w)) for c, a, w in unique.tolist())
        falls = op == OP_FALLS
        portfolio_id = np.asarray(rules["portfolio_id"], dtype=np.int64)
        rule_pos = np.searchsorted(rule_id, pred_rule).astype(np.int64)
        return cls(
            rule_id=rule_id,
            user_id=np.asarray(rules["user_id"], dtype=np.int64),
            portfolio_id=portfolio_id,
            cadence=np.asarray(rules["cadence"], dtype=np.int64),
            cooldown=np.asarray(rules["cooldown"], dtype=np.int64),
            armed=np.asarray(rules["armed"], dtype=np.bool_),
            last_fired=np.asarray(rules["last_fired"], dtype=np.float64),
            mode=np.asarray(rules["mode"], dtype=np.int8),
            rule_pos=rule_pos,
            is_trigger=np.asarray(predicates["is_trigger"], dtype=np.bool_),
            kind=kind,
            market_a=np.asarray(predicates["market_a"], dtype=np.int64),
            market_b=np.asarray(predicates["market_b"], dtype=np.int64),
            side=np.asarray(predicates["side"], dtype=np.int8),
            horizon=np.asarray(predicates["horizon"], dtype=np.int64),
            price_idx=price_idx,
            price_windows=windows,
            sign=np.where((op == OP_BELOW) | falls, -1.0, 1.0),
            use_abs=op == OP_MOVES,
            threshold=np.where(falls, -threshold, threshold),
            hysteresis=np.asarray(predicates["hysteresis"], dtype=np.float64),
            pred_portfolio=portfolio_id[rule_pos] if rule_pos.size else np.zeros(0, dtype=np.int64),
            groups={k: np.flatnonzero(kind == k) for k in KIND_CODES.values()},
        )

    @classmethod
    def from_records(cls, records: Sequence[RuleRecord]) -> RuleSet:
        ordered = sorted(records, key=lambda r: r.rule_id)
        return cls.from_rows(*record_rows(ordered))

    def needs(self, only: npt.NDArray[np.bool_] | None = None) -> SnapshotNeeds:
        """The health factors, risk forecasts and price windows these rules (or the `only` ones) look at."""
        wanted = np.ones(self.kind.shape, dtype=np.bool_) if only is None else only[self.rule_pos]
        portfolios = self.pred_portfolio
        hf = portfolios[wanted & (self.kind == KIND_HEALTH_FACTOR) & (portfolios > 0)]
        risk_mask = wanted & (self.kind == KIND_RISK) & (portfolios > 0)
        pairs = np.unique(np.stack([portfolios[risk_mask], self.horizon[risk_mask]], axis=1), axis=0)
        risk: frozenset[RiskRequest] = frozenset((int(p), int(h)) for p, h in pairs)
        price_idx = np.unique(self.price_idx[wanted & (self.kind == KIND_PRICE_CHANGE)])
        return SnapshotNeeds(
            portfolios_hf=frozenset(int(p) for p in np.unique(hf)),
            risk=risk,
            price_windows=frozenset(self.price_windows[int(i)] for i in price_idx),
        )

    def referencing_markets(self, market_ids: Sequence[int]) -> npt.NDArray[np.bool_]:
        """Per rule: does any of its predicates look at one of these markets (or at prices)?"""
        wanted = np.asarray(market_ids, dtype=np.int64)
        hit = np.isin(self.market_a, wanted) | np.isin(self.market_b, wanted) | (self.kind == KIND_PRICE_CHANGE)
        out = np.zeros(len(self), dtype=np.bool_)
        out[self.rule_pos[hit]] = True
        return out
