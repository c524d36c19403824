"""The bit-mask exit leaves (`leaf_masks.py`) are the leaves the level-by-level walk reaches, for
any tree shape that fits, and ensembles that do not fit are walked."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tidewatch.forecast.leaf_masks import LeafMasks
from tidewatch.forecast.trees import TreeEnsemble

FEATURES = 5
#: Thresholds and inputs share a coarse grid, so rows often lie exactly on a threshold.
GRID = np.linspace(-1.0, 1.0, 9)


def grown_tree(
    rng: np.random.Generator, leaves: int
) -> tuple[list[int], list[float], list[int], list[int], list[float]]:
    """A tree grown best-first (as boosting grows them): split a random leaf until `leaves`."""
    feature, threshold, left, right, value = [-1], [0.0], [0], [0], [float(rng.normal())]
    open_leaves = [0]
    for _ in range(leaves - 1):
        node = open_leaves.pop(int(rng.integers(len(open_leaves))))
        feature[node] = int(rng.integers(FEATURES))
        threshold[node] = float(rng.choice(GRID))
        for side in (left, right):
            side[node] = len(feature)
            open_leaves.append(len(feature))
            feature.append(-1)
            threshold.append(0.0)
            left.append(len(feature) - 1)
            right.append(len(feature) - 1)
            value.append(float(rng.normal()))
    return feature, threshold, left, right, value


def depth_of(feature: NDArray[np.int32], left: NDArray[np.int32], right: NDArray[np.int32], root: int) -> int:
    frontier, depth = [root], 0
    while True:
        inner = [n for n in frontier if feature[n] >= 0]
        if not inner:
            return depth
        frontier = [int(c) for n in inner for c in (left[n], right[n])]
        depth += 1


def ensemble(seed: int, leaf_counts: list[int]) -> TreeEnsemble:
    rng = np.random.default_rng(seed)
    arrays: dict[str, list[float] | list[int]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
    roots = []
    for leaves in leaf_counts:
        feature, threshold, left, right, value = grown_tree(rng, leaves)
        offset = len(arrays["feature"])
        roots.append(offset)
        arrays["feature"] += feature  # type: ignore[operator]
        arrays["threshold"] += threshold  # type: ignore[operator]
        arrays["left"] += [c + offset for c in left]  # type: ignore[operator]
        arrays["right"] += [c + offset for c in right]  # type: ignore[operator]
        arrays["value"] += value  # type: ignore[operator]
    feature = np.asarray(arrays["feature"], dtype=np.int32)
    left = np.asarray(arrays["left"], dtype=np.int32)
    right = np.asarray(arrays["right"], dtype=np.int32)
    depth = max(depth_of(feature, left, right, r) for r in roots)
    return TreeEnsemble(
        baseline=0.25,
        feature=feature,
        threshold=np.asarray(arrays["threshold"], dtype=np.float64),
        left=left,
        right=right,
        value=np.asarray(arrays["value"], dtype=np.float64),
        roots=np.asarray(roots, dtype=np.int32),
        depth=depth,
    )


def rows(seed: int, n: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed + 1)
    x = rng.choice(np.concatenate([GRID, GRID + 0.1, [np.nan, np.inf, -np.inf]]), (n, FEATURES))
    return np.asarray(x, dtype=np.float64)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    leaf_counts=st.lists(st.integers(1, 64), min_size=1, max_size=12),
    n=st.integers(1, 40),
)
def test_the_masked_leaves_are_the_walked_leaves(seed: int, leaf_counts: list[int], n: int) -> None:
    # Given an ensemble of trees of 1 to 64 leaves, and rows on thresholds, off them, NaN and ±inf
    trees = ensemble(seed, leaf_counts)
    x = rows(seed, n)
    # When its exit leaves come from the bit masks
    assert trees._masks is not None
    masked = trees._masks.leaf_values(x)
    # Then they are the leaves the walk reaches, and the prediction is the same bits
    np.testing.assert_array_equal(masked, trees.walked_leaf_values(x))
    np.testing.assert_array_equal(trees.predict(x), trees.baseline + trees.walked_leaf_values(x).sum(axis=1))


def test_each_mask_width_holds_its_trees() -> None:
    # Given ensembles whose widest tree needs 8, 16, 32 and 64 bits
    for widest, dtype in ((8, np.uint8), (9, np.uint16), (32, np.uint32), (64, np.uint64)):
        trees = ensemble(widest, [1, widest, 3])
        # When built, Then the masks use the narrowest integer and agree with the walk
        assert trees._masks is not None
        assert trees._masks.mask_dtype is dtype
        x = rows(widest, 50)
        np.testing.assert_array_equal(trees.predict(x), trees.baseline + trees.walked_leaf_values(x).sum(axis=1))


def test_an_ensemble_with_a_tree_over_64_leaves_is_walked() -> None:
    # Given a tree of 65 leaves
    trees = ensemble(7, [4, 65])
    # When built, Then there are no masks and the prediction is the walk's
    assert trees._masks is None
    x = rows(7, 30)
    np.testing.assert_array_equal(trees.predict(x), trees.baseline + trees.walked_leaf_values(x).sum(axis=1))


def test_a_nan_threshold_is_left_to_the_walk() -> None:
    # Given an ensemble with a NaN threshold (a walk sends every row right there)
    trees = ensemble(3, [5])
    threshold = trees.threshold.copy()
    threshold[0] = np.nan
    # When the masks are built, Then there are none
    assert LeafMasks.build(trees.feature, threshold, trees.left, trees.right, trees.value, trees.roots) is None


def test_single_leaf_trees_need_no_search() -> None:
    # Given trees that are all single leaves
    trees = ensemble(1, [1, 1, 1])
    # When predicted, Then every row gets the sum of the leaves
    assert trees._masks is not None
    assert trees._masks.features.size == 0
    np.testing.assert_array_equal(trees.predict(rows(1, 4)), np.full(4, trees.baseline + trees.value.sum()))
