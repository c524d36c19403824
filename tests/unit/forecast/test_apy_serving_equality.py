"""The APY serving path's fast pieces (tree walk tables, column read-out, remembered replay
changes) give the same numbers as the plain node-by-node and point-by-point versions they stand
in for (kept here as the reference)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.typing import NDArray

from risk.deps import Models
from tidewatch.forecast import apy_model
from tidewatch.forecast.apy_model import MarketSeries, forecast_apy, history_hours
from tidewatch.forecast.errors import UnknownMarket
from tidewatch.forecast.history import align, to_hourly
from tidewatch.forecast.payloads import ApyForecastRequest, RateObservation
from tidewatch.forecast.trees import TreeEnsemble

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def reference_walk(trees: TreeEnsemble, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Every row through every tree, a leaf test and a two-way choice per node and level."""
    n = x.shape[0]
    if trees.roots.size == 0:
        return np.full(n, trees.baseline)
    node = np.broadcast_to(trees.roots, (n, trees.roots.size)).copy()
    rows = np.arange(n)[:, None]
    for _ in range(trees.depth):
        feat = trees.feature[node]
        inner = feat >= 0
        if not inner.any():
            break
        go_left = x[rows, np.maximum(feat, 0)] <= trees.threshold[node]
        node = np.where(inner, np.where(go_left, trees.left[node], trees.right[node]), node)
    return np.asarray(trees.baseline + trees.value[node].sum(axis=1))


def reference_series(points: Sequence[RateObservation], side: str, hours: int) -> MarketSeries:
    """The hourly series read point by point."""
    seconds = [p.observed_at.timestamp() for p in points]
    values = [np.nan if (v := getattr(p, f"{side}_apy")) is None else v for p in points]
    apy_series = to_hourly(seconds, values)
    if apy_series.values.size == 0 or not np.isfinite(apy_series.values).any():
        raise UnknownMarket(f"no {side} APY history for this market")
    y = apy_model._carry_forward(apy_series.values)

    def side_series(raw: list[float], default: float) -> NDArray[np.float64]:
        aligned = align(to_hourly(seconds, raw), apy_series.start_hour, apy_series.end_hour)
        return np.nan_to_num(apy_model._carry_forward(aligned), nan=default)

    u = side_series([np.nan if p.utilization is None else p.utilization for p in points], 0.0)
    v = side_series([np.nan if p.deposits_usd is None else p.deposits_usd for p in points], np.nan)
    return MarketSeries(y[-hours:], u[-hours:], v[-hours:])


def fixture_histories() -> list[list[RateObservation]]:
    """Markets of every shape: short and long, gaps, minutes off the hour, several readings an
    hour, missing rates, utilisations and deposits, readings before the first APY."""
    rng = np.random.default_rng(11)
    out = []
    for case, n in enumerate((20, 30, 169, 400, history_hours(24), 900, history_hours(168), 1600)):
        y = 0.03 + 0.01 * np.sin(np.arange(n) / (7 + case)) * rng.uniform(0.3, 1.7, n)
        u = np.clip(0.7 + 0.2 * np.sin(np.arange(n) / 13), 0, 1)
        deposits = 1e8 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        start = NOW - timedelta(hours=n - 1)
        points = []
        for i in range(n):
            if case % 2 and i % 37 == 5:
                continue
            minutes = int(rng.integers(0, 59)) if case % 3 == 0 else 0
            points.append(
                RateObservation(
                    observed_at=start + timedelta(hours=i, minutes=minutes),
                    supply_apy=None if (case == 4 and i % 11 == 0) or (case == 2 and i < 9) else float(y[i]),
                    borrow_apy=None if case == 5 and 100 < i < 120 else float(y[i] * 1.4),
                    utilization=None if (case == 5 and i % 5 == 0) or (case == 3 and i > n - 30) else float(u[i]),
                    deposits_usd=None if case == 6 else float(deposits[i]),
                )
            )
        out.append(points)
    return out


def test_the_tree_walk_matches_the_node_by_node_walk(models: Models) -> None:
    # Given every shipped head and feature rows with NaNs and values on the thresholds
    rng = np.random.default_rng(2)
    for head in models.apy.heads.values():
        for trees in (head.point, head.fall):
            x = rng.normal(0.0, 1.0, (500, 19))
            x[::7, 3] = np.nan
            inner = trees.feature >= 0
            x[1::5, trees.feature[inner][:100] % 19] = trees.threshold[inner][:100]
            # When walked both ways, Then the sums are the same bits
            np.testing.assert_array_equal(trees.predict(x), reference_walk(trees, x))
    constant = TreeEnsemble.constant(0.5)
    np.testing.assert_array_equal(constant.predict(np.zeros((3, 19))), [0.5, 0.5, 0.5])


def test_the_column_readout_matches_the_point_by_point_series() -> None:
    for points in fixture_histories():
        for side in ("supply", "borrow"):
            for hours in (169, history_hours(24), history_hours(168)):
                got = apy_model.series_from_points(points, side, hours)
                want = reference_series(points, side, hours)
                for name in ("apy", "utilization", "deposits"):
                    np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_forecasts_equal_the_reference_path(models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the fixture markets on both sides and both horizons, one by one and as one batch
    requests = [
        ApyForecastRequest(side=side, horizon_hours=h, history=points, market=None if k % 3 else "aave-v3:1:USDC")
        for k, points in enumerate(fixture_histories())
        for side in ("supply", "borrow")
        for h in (24, 168)
    ]
    # When forecast by the serving path (the batch meets the rows the single forecasts walked)
    # and by the reference pieces
    fast = [forecast_apy([r], models.apy)[0] for r in requests] + forecast_apy(requests, models.apy)
    monkeypatch.setattr(TreeEnsemble, "predict", reference_walk)
    monkeypatch.setattr(apy_model, "series_from_points", reference_series)
    for head in models.apy.heads.values():
        head.forget_changes()  # the reference walks every replay origin
    slow = [forecast_apy([r], models.apy)[0] for r in requests] + forecast_apy(requests, models.apy)
    # Then every field agrees to 1e-12
    for a, b in zip(fast, slow, strict=True):
        for key, value in b.model_dump().items():
            if isinstance(value, float):
                assert getattr(a, key) == pytest.approx(value, abs=1e-12, rel=0), key
            else:
                assert getattr(a, key) == value, key


def test_remembered_changes_are_the_walked_ones_and_stay_bounded(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a head that has walked some rows, and a table that holds few rows
    head = models.apy.head("supply", 168)
    head.forget_changes()
    monkeypatch.setattr(apy_model, "REPLAY_CACHE_ROWS", 50)
    rng = np.random.default_rng(8)
    rows = np.abs(rng.normal(0.03, 0.01, (40, 19)))
    head.remembered_change(rows[:30])
    # When rows old and new are asked for
    got = head.remembered_change(rows)
    # Then they equal a fresh walk, and the table never grows past its bound
    np.testing.assert_array_equal(got, head.predict_change(rows))
    assert len(head._changes) <= 50
    head.forget_changes()
