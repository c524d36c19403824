"""Weighted binning done in numpy: the same trees on raw values as sklearn grew on bin codes."""

from __future__ import annotations

import numpy as np

from training.pipeline import export_trees
from training.weighted_bins import bin_features, to_raw_thresholds, weighted_quantile_edges


def test_edges_split_the_weight_into_equal_bins() -> None:
    # Given 20,000 distinct values whose weights double every 5,000 samples
    rng = np.random.default_rng(1)
    values = rng.normal(size=20_000)
    weight = np.exp2(np.arange(20_000) // 5_000).astype(np.float64)
    # When the edges of 255 bins are found
    edges = weighted_quantile_edges(values, weight)
    # Then there are 254 increasing edges, each bin holding about 1/255 of the weight
    assert edges is not None
    assert edges.size == 254
    assert np.all(np.diff(edges) > 0)
    codes = np.searchsorted(edges, values, side="left")
    share = np.bincount(codes, weights=weight, minlength=255) / weight.sum()
    assert np.allclose(share, 1 / 255, atol=2 * weight.max() / weight.sum())


def test_a_feature_with_few_values_stays_raw_and_nan_stays_missing() -> None:
    # Given one feature with 3 distinct values and one continuous feature holding a NaN
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.integers(0, 3, 1_000).astype(float), rng.normal(size=1_000)])
    x[7, 1] = np.nan
    # When binned
    binned = bin_features(x, np.ones(1_000))
    # Then the few-valued feature is untouched, the other is coded 0..254 with its NaN kept
    assert binned.edges[0] is None
    assert np.array_equal(binned.codes[:, 0], x[:, 0])
    assert np.isnan(binned.codes[7, 1])
    assert np.nanmax(binned.codes[:, 1]) <= 254


def test_trees_grown_on_codes_predict_the_same_on_raw_values() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    # Given weighted samples with two continuous features and one discrete one
    rng = np.random.default_rng(3)
    n = 5_000
    x = np.column_stack([rng.normal(size=n), rng.uniform(size=n), rng.integers(0, 4, n).astype(float)])
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 0.3 * x[:, 2] + rng.normal(scale=0.1, size=n)
    weight = rng.uniform(0.1, 2.0, size=n)
    binned = bin_features(x, weight)
    model = HistGradientBoostingRegressor(
        loss="absolute_error", max_iter=30, max_leaf_nodes=8, min_samples_leaf=50, early_stopping=False, random_state=0
    )
    # When fitted on the codes and exported with raw thresholds
    model.fit(binned.codes, y, sample_weight=weight)
    ensemble = to_raw_thresholds(export_trees(model), binned)
    # Then the raw-value trees give sklearn's own predictions on the codes, for unseen rows too
    fresh = np.column_stack([rng.normal(size=500), rng.uniform(size=500), rng.integers(0, 4, 500).astype(float)])
    fresh_codes = np.column_stack(
        [
            np.searchsorted(edges, fresh[:, j], side="left") if edges is not None else fresh[:, j]
            for j, edges in enumerate(binned.edges)
        ]
    ).astype(float)
    assert np.allclose(ensemble.predict(x), model.predict(binned.codes), atol=1e-5)
    assert np.allclose(ensemble.predict(fresh), model.predict(fresh_codes), atol=1e-5)
