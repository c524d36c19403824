"""Gradient-boosted regression trees evaluated with numpy only.

Training (scikit-learn's `HistGradientBoostingRegressor`) exports every tree as flat node
arrays: `feature` (−1 for a leaf), `threshold` (go left when x ≤ threshold), `left`, `right`
(indices into the same arrays) and `value` (the leaf's contribution). All trees of an ensemble
share one set of arrays; `roots` indexes each tree's first node. Prediction walks all rows
through all trees at once, one tree level per step, so a forecast costs `depth` vectorised
gathers rather than a Python loop per tree.

The arrays travel in the JSON artifact as base64 of little-endian bytes (float32 values, int16 indices: a 40-tree head is about 10 KB).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# float32 thresholds/values and int16 indices keep a head to a few kilobytes; evaluation is float64.
_DTYPES = {"feature": "<i2", "threshold": "<f4", "left": "<i2", "right": "<i2", "value": "<f4", "roots": "<i2"}
MAX_NODES = 32_767


def _encode(values: NDArray[np.generic], dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _decode(text: str, dtype: str) -> NDArray[np.generic]:
    raw = np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype=dtype)
    return raw.astype(np.float64 if dtype[1] == "f" else np.int32)


@dataclass(frozen=True)
class TreeEnsemble:
    """Sum of regression trees plus a baseline; `depth` bounds the walk from root to leaf."""

    baseline: float
    feature: NDArray[np.int32]
    threshold: NDArray[np.float64]
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    value: NDArray[np.float64]
    roots: NDArray[np.int32]
    depth: int

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw prediction for each row of `x` (n × features)."""
        n = x.shape[0]
        if self.roots.size == 0:
            return np.full(n, self.baseline)
        node = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            feat = self.feature[node]
            inner = feat >= 0
            if not inner.any():
                break
            go_left = x[rows, np.maximum(feat, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        return self.baseline + self.value[node].sum(axis=1)

    def to_json(self) -> dict[str, object]:
        if self.feature.size > MAX_NODES:
            raise ValueError(f"a tree ensemble of {self.feature.size} nodes exceeds {MAX_NODES}")
        out: dict[str, object] = {"baseline": self.baseline, "depth": self.depth}
        for name, dtype in _DTYPES.items():
            out[name] = _encode(getattr(self, name), dtype)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TreeEnsemble:
        arrays = {name: _decode(str(data[name]), dtype) for name, dtype in _DTYPES.items()}
        nodes = arrays["feature"].size
        if any(arrays[k].size != nodes for k in ("threshold", "left", "right", "value")):
            raise ValueError("tree arrays differ in length")
        for k in ("left", "right", "roots"):
            if arrays[k].size and (int(arrays[k].min()) < 0 or int(arrays[k].max()) >= max(nodes, 1)):
                raise ValueError(f"tree {k} index out of range")
        return cls(
            baseline=float(data["baseline"]),  # type: ignore[arg-type]
            depth=int(data["depth"]),  # type: ignore[call-overload]
            **arrays,  # type: ignore[arg-type]
        )

    @classmethod
    def constant(cls, value: float = 0.0) -> TreeEnsemble:
        empty_i = np.empty(0, dtype=np.int32)
        return cls(value, empty_i, np.empty(0), empty_i, empty_i, np.empty(0), empty_i, 0)
