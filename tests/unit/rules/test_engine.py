"""The vectorised engine: every trigger at its boundary, conditions, cooldown, hysteresis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from tests.unit.rules.factories import NOW, random_records, random_snapshot, record, snapshot
from tidewatch.rules.engine import due_mask, evaluate, window_key
from tidewatch.rules.reference import SnapshotView, evaluate_one
from tidewatch.rules.ruleset import RuleRecord, RuleSet
from tidewatch.rules.snapshot import TickSnapshot

T = NOW.timestamp()


def fires(rule: RuleRecord, snap: TickSnapshot) -> bool:
    """Fire decision of the engine, cross-checked against the reference evaluator."""
    engine = bool(evaluate(RuleSet.from_records([rule]), snap, T).fire[0])
    reference = evaluate_one(rule, SnapshotView.of(snap), T).fire
    assert engine == reference
    return engine


CASES: list[tuple[str, dict[str, Any], Any, Any, Any]] = [
    # (name, trigger, snapshot at the boundary, just past it, clearly the other way)
    (
        "apy above",
        {"type": "market_apy", "market_id": 3, "op": "above", "threshold": 0.05},
        snapshot(supply={3: 0.05}),
        snapshot(supply={3: 0.0501}),
        snapshot(supply={3: 0.01}),
    ),
    (
        "borrow apy below",
        {"type": "market_apy", "market_id": 3, "side": "borrow", "op": "below", "threshold": 0.04},
        snapshot(borrow={3: 0.04}),
        snapshot(borrow={3: 0.0399}),
        snapshot(borrow={3: 0.09}),
    ),
    (
        "spread above",
        {"type": "apy_spread", "market_id": 1, "other_market_id": 2, "op": "above", "threshold": 0.01},
        snapshot(supply={1: 0.05, 2: 0.04}),
        snapshot(supply={1: 0.0502, 2: 0.04}),
        snapshot(supply={1: 0.03, 2: 0.04}),
    ),
    (
        "health factor below",
        {"type": "health_factor_below", "threshold": 1.2},
        snapshot(hf={7: 1.2}),
        snapshot(hf={7: 1.19}),
        snapshot(hf={7: 2.0}),
    ),
    (
        "risk above",
        {"type": "risk_forecast_above", "horizon_hours": 24, "threshold": 0.1},
        snapshot(risk={(7, 24): 0.1}),
        snapshot(risk={(7, 24): 0.11}),
        snapshot(risk={(7, 24): 0.01, (7, 168): 0.9}),
    ),
    (
        "price falls",
        {"type": "price_change", "asset": "WETH", "window_seconds": 3600, "op": "falls", "threshold": 0.05},
        snapshot(prices={(1, "WETH", 3600): -0.05}),
        snapshot(prices={(1, "WETH", 3600): -0.06}),
        snapshot(prices={(1, "WETH", 3600): 0.08}),
    ),
    (
        "price moves",
        {"type": "price_change", "asset": "WETH", "window_seconds": 3600, "op": "moves", "threshold": 0.05},
        snapshot(prices={(1, "WETH", 3600): -0.05}),
        snapshot(prices={(1, "WETH", 3600): 0.051}),
        snapshot(prices={(1, "WETH", 3600): 0.01}),
    ),
]


@pytest.mark.parametrize(("name", "trigger", "at", "past", "away"), CASES, ids=[c[0] for c in CASES])
def test_each_trigger_fires_only_past_its_boundary(name: str, trigger: dict, at: Any, past: Any, away: Any) -> None:
    # Given an armed rule with the trigger
    rule = record(trigger)
    # Then exactly at the threshold it does not fire, just past it it does, far away it does not
    assert not fires(rule, at)
    assert fires(rule, past)
    assert not fires(rule, away)


def test_missing_data_never_fires() -> None:
    # Given a rule on a market the snapshot does not contain
    rule = record({"type": "market_apy", "market_id": 99, "op": "below", "threshold": 0.05})
    # Then it does not fire (unknown is not "below")
    assert not fires(rule, snapshot(supply={3: 0.0}))


def test_cooldown_blocks_until_it_has_passed() -> None:
    trigger = {"type": "market_apy", "market_id": 3, "op": "above", "threshold": 0.05}
    snap = snapshot(supply={3: 0.09})
    # Given a rule that fired 59 minutes ago with a one-hour cooldown
    recent = record(trigger, last_fired_at=NOW - timedelta(minutes=59), cooldown_seconds=3600)
    # Then it does not fire; at exactly one hour it does
    assert not fires(recent, snap)
    assert fires(record(trigger, last_fired_at=NOW - timedelta(hours=1), cooldown_seconds=3600), snap)


def test_hysteresis_rearms_only_once_cleared_by_the_margin() -> None:
    # Given a disarmed rule (it fired) with 1 point of hysteresis on "APY above 5 %"
    rule = record(
        {"type": "market_apy", "market_id": 3, "op": "above", "threshold": 0.05, "hysteresis": 0.01},
        armed=False,
    )
    rs = RuleSet.from_records([rule])
    # When the APY dips just under the threshold, it stays disarmed (and does not fire)
    dip = evaluate(rs, snapshot(supply={3: 0.045}), T)
    assert not dip.rearm[0]
    assert not dip.fire[0]
    # When it falls past threshold - hysteresis, it re-arms
    assert evaluate(rs, snapshot(supply={3: 0.04}), T).rearm[0]
    # While still above, a disarmed rule never fires
    assert not evaluate(rs, snapshot(supply={3: 0.09}), T).fire[0]


def test_conditions_all_and_any() -> None:
    trigger = {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05}
    items = [
        {"type": "market_apy", "market_id": 2, "op": "below", "threshold": 0.03},
        {"type": "health_factor_below", "threshold": 1.5},
    ]
    snap = snapshot(supply={1: 0.06, 2: 0.02}, hf={7: 2.0})  # first condition holds, second does not
    # Then "all" blocks and "any" lets the rule fire
    assert not fires(record(trigger, conditions={"mode": "all", "items": items}), snap)
    assert fires(record(trigger, conditions={"mode": "any", "items": items}), snap)


def test_engine_matches_the_reference_on_many_random_rules() -> None:
    # Given 3,000 random rules of every kind with random state, and a random snapshot
    records = random_records(3000, seed=11)
    snap = random_snapshot(seed=12)
    view = SnapshotView.of(snap)
    # When both evaluators run
    result = evaluate(RuleSet.from_records(records), snap, T)
    expected = [evaluate_one(r, view, T) for r in records]
    # Then they agree on every firing and re-arming, and some of each happen
    assert result.fire.tolist() == [o.fire for o in expected]
    assert result.rearm.tolist() == [o.rearm for o in expected]
    assert 50 < int(result.fire.sum()) < 2950
    assert int(result.rearm.sum()) > 10


def test_cadence_window_and_due_mask() -> None:
    # Given rules every minute and every five minutes
    records = [
        record({"type": "health_factor_below", "threshold": 1.1}, rule_id=i, cadence_seconds=c)
        for i, c in ((1, 60), (2, 300))
    ]
    rs = RuleSet.from_records(records)
    # Then at 12:00 both are due, at 12:01 only the one-minute rule
    assert due_mask(rs, T).tolist() == [True, True]
    assert due_mask(rs, T + 60).tolist() == [True, False]
    # And a duplicated event in the same window gets the same key, the next window another one
    assert window_key(300, T + 10) == window_key(300, T + 299)
    assert window_key(300, T) != window_key(300, T + 300)


def test_needs_lists_exactly_what_the_rules_look_at() -> None:
    rs = RuleSet.from_records(
        [
            record({"type": "health_factor_below", "threshold": 1.1}, rule_id=1, portfolio_id=4),
            record({"type": "risk_forecast_above", "threshold": 0.2, "horizon_hours": 168}, rule_id=2, portfolio_id=5),
            record({"type": "price_change", "asset": "WBTC", "op": "rises", "threshold": 0.1}, rule_id=3),
        ]
    )
    needs = rs.needs()
    assert needs.portfolios_hf == {4}
    assert needs.risk == {(5, 168)}
    assert needs.price_windows == {(1, "WBTC", 3600)}
    assert np.array_equal(rs.referencing_markets([1]), [False, False, True])


def test_needs_can_be_limited_to_the_rules_being_evaluated() -> None:
    rs = RuleSet.from_records(
        [
            record({"type": "health_factor_below", "threshold": 1.1}, rule_id=1, portfolio_id=4),
            record({"type": "risk_forecast_above", "threshold": 0.2}, rule_id=2, portfolio_id=5),
            record({"type": "price_change", "asset": "WBTC", "op": "rises", "threshold": 0.1}, rule_id=3),
        ]
    )
    needs = rs.needs(np.array([False, True, False]))
    assert (needs.portfolios_hf, needs.risk, needs.price_windows) == (frozenset(), {(5, 24)}, frozenset())


def test_no_rules_is_a_quiet_tick() -> None:
    rs = RuleSet.from_rows([], [])
    result = evaluate(rs, snapshot(supply={1: 0.05}), T, due_mask(rs, T))
    assert (len(rs), result.fire.size, rs.needs().risk) == (0, 0, frozenset())


def test_an_unavailable_risk_source_only_mutes_risk_rules() -> None:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from tidewatch.rules.snapshot import MarketState, PriceWindow, take_snapshot

    class Markets:
        def latest_markets(self) -> Sequence[MarketState]:
            return [MarketState(1, 0.09, 0.1)]

        def price_changes(self, windows: Sequence[PriceWindow], at: datetime) -> Mapping[PriceWindow, float]:
            return {}

    class BrokenRisk:
        def liquidation_probabilities(self, requests: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], float]:
            raise TimeoutError("risk function timed out")

    rs = RuleSet.from_records(
        [
            record({"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05}, rule_id=1),
            record({"type": "risk_forecast_above", "threshold": 0.01}, rule_id=2),
        ]
    )
    # When the risk function fails while taking the snapshot
    snap = take_snapshot(rs.needs(), at=NOW, markets=Markets(), positions=None, risk=BrokenRisk())
    # Then the APY rule still fires and the risk rule simply sees no data
    assert evaluate(rs, snap, T).fire.tolist() == [True, False]
