"""Walk-forward (rolling-origin) folds and block-bootstrap confidence intervals, numpy only.

A fold trains on every sample whose label window ends before the fold's cut (a purge gap as
long as the horizon: no training target overlaps the test weeks) and tests on the samples that
start in the weeks after the cut. The cuts move forward fold by fold, so every test sample is
forecast by a model that never saw its period.

Intervals: the samples of a test set are grouped in blocks of consecutive time (one week by
default, per market where markets are given, so the autocorrelation inside a week stays inside
a block); blocks are drawn with replacement and a statistic is recomputed per draw. Paired
statistics (a model against a baseline) use the same draws, so the interval of a difference is
the interval of the paired difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

BLOCK_HOURS = 168
BOOTSTRAP_DRAWS = 400
CI_LEVEL = 0.95


@dataclass(frozen=True)
class Fold:
    index: int
    cut: int  # first test hour (unix hours)
    end: int  # first hour after the test weeks

    def train_mask(self, hours: NDArray[np.int64], horizon: NDArray[np.float64] | float) -> NDArray[np.bool_]:
        """Samples whose whole label window [t, t + horizon] ends before the cut."""
        return np.asarray(hours + horizon < self.cut)

    def test_mask(self, hours: NDArray[np.int64]) -> NDArray[np.bool_]:
        return np.asarray((hours >= self.cut) & (hours < self.end))


def rolling_origin_folds(hours: NDArray[np.int64], *, folds: int = 8, first_train_share: float = 0.5) -> list[Fold]:
    """`folds` consecutive test periods of equal length covering the last
    (1 − first_train_share) of the time span; the first fold trains on the first half."""
    if hours.size == 0:
        return []
    lo, hi = int(hours.min()), int(hours.max()) + 1
    first = lo + math.floor((hi - lo) * first_train_share)
    step = max(1, (hi - first) // folds)
    return [Fold(i, first + i * step, hi if i == folds - 1 else first + (i + 1) * step) for i in range(folds)]


def block_ids(
    hours: NDArray[np.int64], groups: NDArray[np.str_] | None = None, block_hours: int = BLOCK_HOURS
) -> NDArray[np.int64]:
    """Dense block index per sample: (group, week of the sample's hour)."""
    week = hours // block_hours
    if groups is None:
        _, ids = np.unique(week, return_inverse=True)
        return ids.astype(np.int64)
    _, g = np.unique(groups, return_inverse=True)
    _, ids = np.unique(g.astype(np.int64) * 10**7 + week, return_inverse=True)
    return ids.astype(np.int64)


def bootstrap_means(
    values: NDArray[np.float64], blocks: NDArray[np.int64], *, draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> NDArray[np.float64]:
    """Block-bootstrap replicates of the column means of `values` (n × k) → (draws × k)."""
    values = values.reshape(values.shape[0], -1)
    nblocks = int(blocks.max()) + 1 if blocks.size else 0
    if nblocks == 0:
        return np.full((draws, values.shape[1]), np.nan)
    sums = np.zeros((nblocks, values.shape[1]))
    np.add.at(sums, blocks, values)
    counts = np.bincount(blocks, minlength=nblocks).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, nblocks, size=(draws, nblocks))
    # Each draw: how many times each block was drawn, times its sums.
    weight = np.zeros((draws, nblocks))
    np.add.at(weight, (np.repeat(np.arange(draws), nblocks), pick.ravel()), 1.0)
    return (weight @ sums) / np.maximum(weight @ counts, 1.0)[:, None]


def interval(replicates: NDArray[np.float64], level: float = CI_LEVEL) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1.0 - alpha))


def error_summary(
    errors: dict[str, NDArray[np.float64]], blocks: NDArray[np.int64], *, scale: float = 1.0, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """MAE and RMSE with block-bootstrap intervals for each forecaster's errors (same draws)."""
    names = list(errors)
    e = np.column_stack([errors[n] for n in names])
    reps = bootstrap_means(np.hstack([np.abs(e), e * e]), blocks, seed=seed)
    k = len(names)
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        mae, rmse = float(np.mean(np.abs(e[:, i]))), float(np.sqrt(np.mean(e[:, i] ** 2)))
        out[name] = {
            "mae": scale * mae,
            "mae_ci": [scale * v for v in interval(reps[:, i])],
            "rmse": scale * rmse,
            "rmse_ci": [scale * float(np.sqrt(v)) for v in interval(reps[:, k + i])],
        }
    return out


def paired_difference(
    a: NDArray[np.float64], b: NDArray[np.float64], blocks: NDArray[np.int64], *, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of a − b with its block-bootstrap interval (e.g. |model error| − |persistence error|)."""
    reps = bootstrap_means((a - b)[:, None], blocks, seed=seed)[:, 0]
    lo, hi = interval(reps)
    return float(np.mean(a - b)), lo, hi


def brier_summary(
    forecasts: dict[str, NDArray[np.float64]], outcome: NDArray[np.bool_], blocks: NDArray[np.int64], *, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Brier score with its block-bootstrap interval for each forecaster (same draws)."""
    names = list(forecasts)
    y = outcome.astype(np.float64)
    sq = np.column_stack([(forecasts[n] - y) ** 2 for n in names])
    reps = bootstrap_means(sq, blocks, seed=seed)
    return {n: {"brier": float(np.mean(sq[:, i])), "brier_ci": list(interval(reps[:, i]))} for i, n in enumerate(names)}
