"""Forecast quality measures with numpy only: Brier score, reliability table, ROC AUC, MAE/RMSE."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_BIN_EDGES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 1.0)


def brier(probability: ArrayLike, outcome: ArrayLike) -> float:
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    return float(np.mean((p - y) ** 2))


def roc_auc(score: ArrayLike, outcome: ArrayLike) -> float:
    """Mann-Whitney AUC with ties counted half; NaN when only one class is present."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(outcome, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def reliability_table(
    probability: ArrayLike, outcome: ArrayLike, edges: tuple[float, ...] = DEFAULT_BIN_EDGES
) -> list[dict[str, object]]:
    """Per probability bin: count, mean forecast, observed frequency."""
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    rows = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        inside = (p >= lo) & ((p < hi) if i < len(edges) - 2 else (p <= hi))
        n = int(inside.sum())
        rows.append(
            {
                "bin": f"[{lo:.2f}, {hi:.2f}{']' if i == len(edges) - 2 else ')'}",
                "count": n,
                "mean_forecast": float(p[inside].mean()) if n else float("nan"),
                "observed": float(y[inside].mean()) if n else float("nan"),
            }
        )
    return rows


def mae(prediction: ArrayLike, truth: ArrayLike) -> float:
    return float(np.mean(np.abs(np.asarray(prediction) - np.asarray(truth))))


def rmse(prediction: ArrayLike, truth: ArrayLike) -> float:
    return float(np.sqrt(np.mean((np.asarray(prediction) - np.asarray(truth)) ** 2)))
