"""Adaptive conformal intervals of the 7-day APY heads: the level replayed from matured outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tidewatch.forecast.apy_model import (
    SCORE_QUANTILE_LEVELS,
    ApyHead,
    adaptive_levels,
    recent_offsets,
)
from tidewatch.forecast.trees import TreeEnsemble

HORIZON = 168
STEP = 3  # hours between origins of the replay window


def head_for(calibration: NDArray[np.float64]) -> ApyHead:
    """A head whose calibration scores are `calibration` (the trees are not used here)."""
    grid = tuple(float(q) for q in np.quantile(calibration, SCORE_QUANTILE_LEVELS))
    lo, hi = np.quantile(calibration, [0.1, 0.9])
    none = np.empty(0, dtype=np.int32)
    trees = TreeEnsemble(0.0, none, np.empty(0), none, none, np.empty(0), none, 0)
    return ApyHead(trees, trees, float(lo), float(hi), 0.80, grid)


def windows(stream: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """For each origin of `stream` (one score every STEP hours) with a full window behind it:
    the scores at `recent_offsets(HORIZON)` back from it (newest first) and its index."""
    steps = recent_offsets(HORIZON) // STEP
    now = np.arange(int(steps.max()), stream.size)
    return stream[now[:, None] - steps[None, :]], now


def coverage(head: ApyHead, stream: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per origin: whether its own score fell inside the interval served then, and the width."""
    rows, now = windows(stream)
    lo, hi = head.recent_bounds(rows, HORIZON)
    return ((stream[now] >= lo) & (stream[now] <= hi)).astype(float), hi - lo


def test_the_interval_covers_nominally_on_a_stationary_series() -> None:
    # Given a head calibrated on N(0, 1) scores and a long stationary stream of the same law
    rng = np.random.default_rng(11)
    head = head_for(rng.standard_normal(2000))
    stream = rng.standard_normal(6000)
    # When every origin's interval is served from the window behind it
    covered, _ = coverage(head, stream)
    # Then 80 % of the outcomes fall inside it
    assert covered.mean() == pytest.approx(0.80, abs=0.03)


def test_the_interval_widens_after_a_volatility_jump() -> None:
    # Given a stream whose scale grows by 80 % half-way (the head was calibrated on the calm law;
    # the widest interval it can serve is its calibration scores' 0.5–99.5 % range)
    rng = np.random.default_rng(12)
    head = head_for(rng.standard_normal(2000))
    stream = rng.standard_normal(6000)
    jump = 3000
    stream[jump:] *= 1.8
    # When served
    covered, width = coverage(head, stream)
    _, now = windows(stream)
    before = (now >= jump - 400) & (now < jump)
    settled = now >= jump + 1000
    # Then the interval is wider after the jump than before, and covers near nominal again,
    # where the head's fixed bounds would cover far less
    assert width[settled].mean() > 1.4 * width[before].mean()
    assert covered[settled].mean() == pytest.approx(0.80, abs=0.06)
    fixed = ((stream[now] >= head.residual_low) & (stream[now] <= head.residual_high))[settled].mean()
    assert fixed < 0.60


def test_the_level_starts_nominal_and_moves_with_misses() -> None:
    # Given windows with no matured outcome, with every outcome inside and with every one outside
    head = head_for(np.random.default_rng(13).standard_normal(2000))
    width = recent_offsets(HORIZON).size
    grid = np.asarray(head.score_quantiles)
    empty = np.full((1, width), np.nan)
    inside = np.zeros((1, width))
    outside = np.full((1, width), 50.0)
    # When the level is replayed
    levels = [float(adaptive_levels(s, HORIZON, 0.20, grid)[0]) for s in (empty, inside, outside)]
    # Then it stays nominal, rises (narrower interval) and falls (wider), within its range
    assert levels[0] == pytest.approx(0.20)
    assert levels[1] > 0.20
    assert 0.0 < levels[2] < 0.20


def test_a_head_without_score_quantiles_keeps_its_pooled_bounds() -> None:
    # Given an artifact from before the adaptive intervals (no score quantiles)
    head = head_for(np.random.default_rng(14).standard_normal(500))
    old = ApyHead(head.point, head.fall, head.residual_low, head.residual_high, 0.80)
    rows = np.zeros((2, recent_offsets(HORIZON).size))
    # When bounds are asked for
    lo, hi = old.recent_bounds(rows, HORIZON)
    # Then they are the pooled ones
    assert lo.tolist() == [head.residual_low] * 2
    assert hi.tolist() == [head.residual_high] * 2
