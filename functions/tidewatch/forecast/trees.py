"""Gradient-boosted regression trees evaluated with numpy only.

Training (scikit-learn's `HistGradientBoostingRegressor`) exports every tree as flat node
arrays: `feature` (−1 for a leaf), `threshold` (go left when x ≤ threshold), `left`, `right`
(indices into the same arrays) and `value` (the leaf's contribution). All trees of an ensemble
share one set of arrays; `roots` indexes each tree's first node. Prediction walks all rows
through all trees at once, one tree level per step, so a forecast costs `depth` vectorised
gathers rather than a Python loop per tree. Where every tree has at most 64 leaves (the trained
heads have 8), the exit leaves come from per-feature bit masks instead (`leaf_masks.py`): the
same leaves, a binary search per feature instead of a gather per level.

The arrays travel in the JSON artifact as base64 of little-endian bytes (float32 values, int16 indices: a 40-tree head is about 10 KB).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.leaf_masks import LeafMasks

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
    #: Walk tables built once at load: the split feature of every node (0 at a leaf) and its
    #: children as `child[2·node + (x ≤ threshold)]` (right, left), a leaf being its own child on
    #: both sides, so one gather per level moves every (row, tree) pair and leaves stay put.
    _split: NDArray[np.intp] = field(init=False, repr=False, compare=False)
    _child: NDArray[np.intp] = field(init=False, repr=False, compare=False)
    #: The exit leaves by bit masks, when every tree fits (None: walk the levels).
    _masks: LeafMasks | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        nodes = np.arange(self.feature.size, dtype=np.intp)
        leaf = self.feature < 0
        child = np.empty(2 * nodes.size, dtype=np.intp)
        child[0::2] = np.where(leaf, nodes, self.right)
        child[1::2] = np.where(leaf, nodes, self.left)
        object.__setattr__(self, "_split", np.where(leaf, 0, self.feature).astype(np.intp))
        object.__setattr__(self, "_child", child)
        masks = LeafMasks.build(self.feature, self.threshold, self.left, self.right, self.value, self.roots)
        object.__setattr__(self, "_masks", masks)

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw prediction for each row of `x` (n × features): the baseline plus the values of
        the leaves the row reaches, summed in tree order."""
        if self.roots.size == 0:
            return np.full(x.shape[0], self.baseline)
        values = self.walked_leaf_values(x) if self._masks is None else self._masks.leaf_values(x)
        return self.baseline + values.sum(axis=1)

    def walked_leaf_values(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """(rows, trees): the value of each row's leaf in each tree by walking every row through
        every tree, one level per step, `depth` steps (a row that reached its leaf stays there)."""
        n = x.shape[0]
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        base = (np.arange(n, dtype=np.intp) * x.shape[1])[:, None]
        node = np.broadcast_to(self.roots.astype(np.intp), (n, self.roots.size))
        split, child, threshold = self._split, self._child, self.threshold
        for _ in range(self.depth):
            go_left = flat[base + split[node]] <= threshold[node]
            node = child[2 * node + go_left]
        return self.value[node]

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
