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


def test_a_growing_and_rewritten_stored_history_forecasts_like_a_full_replay(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stored market read as columns, forecast hour after hour as its history grows, with
    # one reading deep in both replay windows corrected half way through
    full = apy_model.columns_from_points(fixture_histories()[7])
    names = ("seconds", "supply_apy", "borrow_apy", "utilization", "deposits_usd")
    stop = full.seconds.size
    ends = [*range(stop - 12, stop), stop]
    requests = [
        ApyForecastRequest(market_id=1, side=side, horizon_hours=h) for side in ("supply", "borrow") for h in (24, 168)
    ]
    for head in models.apy.heads.values():
        head.forget_changes()
    for step, end in enumerate(ends):
        arrays = [np.array(getattr(full, name)[:end]) for name in names]
        if step >= len(ends) // 2:
            arrays[1][end - 300] *= 1.5
            arrays[2][end - 300] *= 0.5
            arrays[3][end - 300] = 0.99
        history = {1: apy_model.RateColumns(*arrays)}
        # When forecast with the rows remembered from the forecasts before, and by a full replay
        served = forecast_apy(requests, models.apy, history, {1: "aave-v3:1:USDC"})
        with monkeypatch.context() as patch:
            patch.setattr(apy_model.ApyHead, "remembered_change", apy_model.ApyHead.predict_change)
            replayed = forecast_apy(requests, models.apy, history, {1: "aave-v3:1:USDC"})
        # Then every field agrees to 1e-12
        for a, b in zip(served, replayed, strict=True):
            for key, value in b.model_dump().items():
                if isinstance(value, float):
                    assert getattr(a, key) == pytest.approx(value, abs=1e-12, rel=0), (end, key)
                else:
                    assert getattr(a, key) == value, (end, key)
    assert all(head._changes for head in models.apy.heads.values())
    for head in models.apy.heads.values():
        head.forget_changes()


def test_the_origin_by_origin_replay_equals_the_block_replay() -> None:
    # Given scaled residuals of every spread, with missing outcomes, and calibration quantiles
    rng = np.random.default_rng(5)
    grid = np.sort(rng.normal(0.0, 1.0, apy_model.SCORE_QUANTILE_LEVELS.size))
    for trial in range(60):
        count = int(rng.integers(1, 400))
        scores = rng.normal(0.0, rng.uniform(0.1, 4.0), (3, count))
        scores[:, rng.integers(0, count, count // 10 + 1)] = np.nan
        for horizon in (24, 168):
            ordered = scores[:, ::-1]
            valid = np.isfinite(ordered)
            rank = np.interp(np.where(valid, ordered, 0.0), grid, apy_model.SCORE_QUANTILE_LEVELS)
            critical = 2.0 * np.minimum(rank, 1.0 - rank)
            lag = horizon // apy_model.RECENT_STRIDE_HOURS
            # When replayed origin by origin and block by block, Then the levels are the same bits
            scalar = apy_model._replay_scalar(valid, critical, lag, 0.2)
            blocks = apy_model._replay_blocks(valid, critical, lag, 0.2)
            np.testing.assert_array_equal(scalar, blocks, err_msg=str(trial))


def test_serving_feature_rows_match_the_matrix_and_do_not_depend_on_where_the_series_starts() -> None:
    # Given a series and the same series with 500 more hours in front of it
    rng = np.random.default_rng(9)
    n, extra = 900, 500
    y = np.abs(rng.normal(0.03, 0.01, n + extra))
    u = rng.uniform(0.0, 1.0, n + extra)
    v = 1e8 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n + extra)))
    at = np.array([n - 1, n - 25, 400, 168, 30, 0])
    # When the serving rows are computed at the same hours of both
    short = apy_model.apy_feature_rows(y[extra:], u[extra:], v[extra:], 0.8, at, window_sums=True)
    long = apy_model.apy_feature_rows(y, u, v, 0.8, at + extra, window_sums=True)
    # Then they equal the training matrix to 1e-12, and rows with a full lookback are the same bits
    matrix = apy_model.apy_feature_matrix(y[extra:], u[extra:], v[extra:], 0.8)
    np.testing.assert_allclose(short, matrix[at], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(short[:4], long[:4])
    exact = apy_model.apy_feature_rows(y[extra:], u[extra:], v[extra:], 0.8, at)
    np.testing.assert_array_equal(exact, matrix[at])


def test_hourly_forecasts_walk_only_the_new_origin_once_the_replay_hours_recur(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stored market forecast every hour from a read window that moves with the clock
    rng = np.random.default_rng(12)
    n = 3000
    y = np.abs(0.03 + 0.005 * np.sin(np.arange(n) / 50) + rng.normal(0.0, 0.001, n))
    seconds = 1.7e9 + 3600.0 * np.arange(n)
    span = apy_model.APY_HISTORY_HOURS + 1
    head = models.apy.head("supply", 168)
    head.forget_changes()
    walked: list[int] = []
    walk = apy_model.ApyHead.predict_change

    def counted(self: apy_model.ApyHead, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        walked.append(rows.shape[0])
        return walk(self, rows)

    monkeypatch.setattr(apy_model.ApyHead, "predict_change", counted)
    request = [ApyForecastRequest(market_id=1, side="supply", horizon_hours=168)]
    for end in range(2000, 2000 + 175):
        window = slice(end - span, end)
        columns = apy_model.RateColumns(
            seconds[window], y[window], y[window] * 1.3, np.full(span, 0.8), np.full(span, 1e8)
        )
        forecast_apy(request, models.apy, {1: columns})
    # Then the first three walk the 337 origins and the newest hour; after them (origins every
    # 3 h) each walks one new origin and the newest hour, and once a week has passed the new
    # origin is the newest hour of a week ago, so only the newest hour is walked
    assert walked[:3] == [338, 338, 338]
    assert walked[3:168] == [2] * 165
    assert walked[168:] == [1] * 7
    head.forget_changes()
