"""Exit leaves of many rows through a tree ensemble by bit masks, without walking the trees.

Every leaf of a tree gets one bit of a mask. A split node on feature f with threshold θ sends a
row left when x_f ≤ θ, so for a row it rules out the leaves of one of its subtrees: the left
ones when θ < x_f, the right ones otherwise. Of a tree's leaves exactly one survives every node
of the tree, the leaf a walk from the root reaches (a leaf off that path is ruled out where the
path turns away from it).

Sorted by threshold, the nodes of one feature split into a prefix with θ < x_f and the rest, so
what a feature rules out for a row depends only on how many of its thresholds lie below x_f.
`LeafMasks` stores, per feature, the masks left after the first k of its nodes rule out their
left leaves and the others their right ones, for every k (the idea of QuickScorer, Lucchese et
al., SIGIR 2015, with both sides ruled out so that the survivor is unique in any leaf order). A
row's exit leaves are then one binary search per feature, one gather of those masks and an AND
across the features: no per-level gathers, whatever the depth.

The result is the leaf a walk reaches, by construction: the same comparison `x ≤ θ` in float64
decides every node (NaN > every θ, as `NaN ≤ θ` is false).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: A tree's leaves share one unsigned integer; trees with more leaves than its bits are walked.
_MASK_DTYPES = ((8, np.uint8), (16, np.uint16), (32, np.uint32), (64, np.uint64))


@dataclass(frozen=True)
class LeafMasks:
    """The per-feature mask tables of one ensemble (`build`), and its leaves' values by slot."""

    trees: int
    features: NDArray[np.intp]  # the features some node splits on
    thresholds: tuple[NDArray[np.float64], ...]  # per used feature, its nodes' thresholds, sorted
    offsets: NDArray[np.intp]  # per used feature, the first row of its masks in `words`
    words: NDArray[np.uint64]  # (Σ (nodes of f + 1), words per row): the masks, as 64-bit words
    mask_dtype: type[np.unsignedinteger]  # the integer holding one tree's leaf bits
    leaf_value: NDArray[np.float64]  # (trees · max leaves,): a leaf's value at tree · width + slot
    width: int  # max leaves of a tree

    @classmethod
    def build(
        cls,
        feature: NDArray[np.int32],
        threshold: NDArray[np.float64],
        left: NDArray[np.int32],
        right: NDArray[np.int32],
        value: NDArray[np.float64],
        roots: NDArray[np.int32],
    ) -> LeafMasks | None:
        """The tables of the ensemble given as flat node arrays, or None when a tree has more
        leaves than 64 bits hold, a node is reachable from no root or a threshold is NaN."""
        nodes = feature.size
        trees = roots.size
        if trees == 0 or np.isnan(threshold[feature >= 0]).any():
            return None
        tree_of = np.full(nodes, -1, dtype=np.intp)
        frontier = roots.astype(np.intp)
        tree_of[frontier] = np.arange(trees)
        levels = []  # the split nodes of each level, root level first
        while frontier.size:
            inner = frontier[feature[frontier] >= 0]
            levels.append(inner)
            frontier = np.concatenate([left[inner], right[inner]]).astype(np.intp)
            tree_of[frontier] = np.tile(tree_of[inner], 2)
        if (tree_of < 0).any():
            return None
        leaves = np.flatnonzero(feature < 0)
        leaves = leaves[np.argsort(tree_of[leaves], kind="stable")]
        per_tree = np.bincount(tree_of[leaves], minlength=trees)
        width = int(per_tree.max())
        bits, dtype = next(((b, d) for b, d in _MASK_DTYPES if width <= b), (0, None))
        if dtype is None:
            return None
        slot = np.arange(leaves.size) - np.repeat(np.cumsum(per_tree) - per_tree, per_tree)
        # The leaves below each node, deepest level first: a split node's left and right masks
        # are its children's.
        below = np.zeros(nodes, dtype=np.uint64)
        below[leaves] = np.left_shift(np.uint64(1), slot.astype(np.uint64))
        left_mask = np.zeros(nodes, dtype=np.uint64)
        right_mask = np.zeros(nodes, dtype=np.uint64)
        for inner in reversed(levels):
            left_mask[inner] = below[left[inner]]
            right_mask[inner] = below[right[inner]]
            below[inner] = left_mask[inner] | right_mask[inner]
        # All of a tree's leaves: (1 << leaves) − 1, computed without overflowing 64 bits.
        shift = np.minimum(per_tree, 63).astype(np.uint64)
        full = np.where(per_tree >= 64, np.uint64(2**64 - 1), np.left_shift(np.uint64(1), shift) - np.uint64(1))
        per_word = 64 // bits  # trees per 64-bit word
        padded = -(-trees // per_word) * per_word  # trees rounded up: a row of masks is whole words
        inner = np.flatnonzero(feature >= 0)
        order = inner[np.lexsort((threshold[inner], feature[inner]))]
        used, starts, counts = np.unique(feature[order], return_index=True, return_counts=True)
        group = np.repeat(np.arange(used.size), counts)  # of each node in `order`
        rank = np.arange(order.size) - starts[group]
        offsets = starts + np.arange(used.size)  # a feature's k = 0 … count rows
        # Row k of a feature: its first k nodes (θ below x) rule out their left leaves, the
        # others their right ones; one AND per (node, row of its feature).
        reps = counts[group] + 1
        node = np.repeat(np.arange(order.size), reps)
        k = np.arange(node.size) - np.repeat(np.cumsum(reps) - reps, reps)
        at = order[node]
        rule = np.where(k < rank[node] + 1, ~right_mask[at], ~left_mask[at])
        masks = np.tile(full, (order.size + used.size, 1))
        np.bitwise_and.at(masks, (offsets[group[node]] + k, tree_of[at]), rule)
        table = np.ones((masks.shape[0], padded), dtype=dtype)
        table[:, :trees] = masks.astype(dtype)
        words = table.view(np.uint64)
        thresholds = tuple(np.ascontiguousarray(t, dtype=np.float64) for t in np.split(threshold[order], starts[1:]))
        leaf_value = np.zeros(trees * width)
        leaf_value[tree_of[leaves] * width + slot] = value[leaves]
        return cls(
            trees=trees,
            features=used.astype(np.intp),
            thresholds=thresholds if used.size else (),
            offsets=offsets.astype(np.intp),
            words=words,
            mask_dtype=dtype,
            leaf_value=leaf_value,
            width=width,
        )

    def leaf_values(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """(rows, trees): the value of the leaf each row reaches in each tree."""
        n = x.shape[0]
        if self.features.size == 0:  # every tree is a single leaf
            slot = np.zeros((n, self.trees), dtype=np.intp)
        else:
            # One row of codes per feature (contiguous for the binary search and the AND).
            columns = np.ascontiguousarray(x.T[self.features])
            codes = np.empty(columns.shape, dtype=np.intp)
            for j, sorted_thresholds in enumerate(self.thresholds):
                codes[j] = sorted_thresholds.searchsorted(columns[j], side="left")
            codes += self.offsets[:, None]
            survivors = np.bitwise_and.reduce(np.take(self.words, codes, axis=0), axis=0)
            masks = survivors.view(self.mask_dtype)[:, : self.trees]
            # One bit survives per tree: its position is the number of ones below it.
            slot = np.bitwise_count(masks - self.mask_dtype(1)).astype(np.intp)
        slot += np.arange(self.trees, dtype=np.intp) * self.width
        return self.leaf_value[slot]
