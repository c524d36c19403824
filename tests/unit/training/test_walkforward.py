"""Walk-forward folds, block-bootstrap intervals, tree export and the walk-forward gates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tidewatch.forecast.trees import TreeEnsemble
from training import walkforward as wf
from training.pipeline import _served_methods, approval_failures, export_trees, train_and_evaluate
from training.scenarios import generated_history


def test_folds_roll_forward_and_purge_the_horizon() -> None:
    # Given hourly samples over 1,000 hours with a 24 h label window
    hours = np.arange(1_000, dtype=np.int64)
    folds = wf.rolling_origin_folds(hours, folds=6)
    # Then six consecutive test periods cover the second half
    assert len(folds) == 6
    assert folds[0].cut == 500
    assert folds[-1].end == 1_000
    assert all(a.end == b.cut for a, b in itertools.pairwise(folds))
    for fold in folds:
        train, test = fold.train_mask(hours, 24.0), fold.test_mask(hours)
        # And no training label window reaches into the test weeks
        assert (hours[train] + 24 < fold.cut).all()
        assert hours[test].min() >= fold.cut
        assert not (train & test).any()


def test_block_bootstrap_interval_covers_the_mean_and_widens_with_autocorrelation() -> None:
    rng = np.random.default_rng(0)
    hours = np.arange(5_000, dtype=np.int64)
    iid = rng.normal(size=hours.size)
    persistent = np.repeat(rng.normal(size=hours.size // 168 + 1), 168)[: hours.size]
    blocks = wf.block_ids(hours)
    lo, hi = wf.interval(wf.bootstrap_means(iid[:, None], blocks)[:, 0])
    assert lo < iid.mean() < hi
    lo2, hi2 = wf.interval(wf.bootstrap_means(persistent[:, None], blocks)[:, 0])
    # Week-long shocks: the interval is much wider than for independent noise
    assert (hi2 - lo2) > 3 * (hi - lo)


def test_exported_trees_predict_exactly_like_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3_000, 5))
    y = np.sin(x[:, 0]) + 0.5 * (x[:, 1] > 0.3) + rng.normal(scale=0.1, size=3_000)
    model = HistGradientBoostingRegressor(loss="absolute_error", max_iter=30, max_leaf_nodes=8).fit(x, y)
    trees = TreeEnsemble.from_json(export_trees(model).to_json())
    probe = rng.normal(size=(500, 5))
    np.testing.assert_allclose(trees.predict(probe), model.predict(probe), atol=1e-5)


@pytest.fixture(scope="module")
def generated_run():  # type: ignore[no-untyped-def]
    return train_and_evaluate(generated_history(1_500, seed=5), generated_data=True, monte_carlo_positions=0, folds=6)


def test_walk_forward_report_has_folds_intervals_and_baselines(generated_run) -> None:  # type: ignore[no-untyped-def]
    report = generated_run.report
    risk = report["risk"]
    assert len(risk["folds"]) >= 5
    block = risk["slices"]["all"]
    for name in ("model", "closed_form", "hf_rule_1.10", "climatology"):
        lo, hi = block[name]["brier_ci"]
        assert lo <= block[name]["brier"] <= hi
    for key, head in report["apy"].items():
        pooled = head["pooled"]
        for name in ("model", "served", "persistence"):
            lo, hi = pooled[name]["mae_ci"]
            assert lo <= pooled[name]["mae"] <= hi, key
        # The served forecast never does worse than persistence on a market it falls back for
        for market, scores in head["per_market"].items():
            if scores["served_method"] == "persistence":
                assert scores["served"]["mae"] == pytest.approx(scores["persistence"]["mae"]), market
            if scores["served_method"] == "rolling_mean":
                roll = next(k for k in scores if k.startswith("rolling_mean_"))
                assert scores["served"]["mae"] == pytest.approx(scores[roll]["mae"]), market
        assert set(head["rolling_mean_markets"]).isdisjoint(head["persistence_markets"])
        assert "brier_skill" in head["fall"]


def test_an_apy_artifact_that_loses_to_persistence_is_not_approved(generated_run) -> None:  # type: ignore[no-untyped-def]
    # Given the walk-forward metrics of a run, doctored so that one head loses to persistence
    artifact = generated_run.apy.model_copy(deep=True)
    artifact.card.metrics["supply:24"]["beats_persistence"] = False
    # Then the gates refuse it and say why
    failures = approval_failures(artifact)
    assert any("supply:24" in f and "persistence" in f for f in failures)


def test_each_market_is_served_the_forecast_that_beat_the_others_on_both_errors() -> None:
    # Given pooled folds of four markets: the model wins on A; the rolling mean beats the model on
    # both errors on B; on C the model loses to persistence and the rolling mean to both; on D the
    # rolling mean beats the model on MAE only
    truth = np.zeros(8)
    c = {
        "market": np.array(["A", "A", "B", "B", "C", "C", "D", "D"]),
        "truth": truth,
        "model": np.array([0.1, -0.1, 0.3, -0.3, 0.2, -0.2, 0.2, -0.2]),
        "last": np.array([0.2, -0.2, 0.5, -0.5, 0.1, -0.1, 0.5, -0.5]),
        "roll": np.array([0.3, -0.3, 0.2, -0.2, 0.4, -0.4, 0.0, -0.39]),
    }
    # When the served methods are chosen, with and without the rolling-mean fallback
    methods = _served_methods(c, 168)
    without = _served_methods(c, 168, rolling_mean=False)
    # Then A gets the model, B the rolling mean, C persistence, D the model (a tie on one error keeps it)
    assert {k: m for k, (m, _) in methods.items()} == {"B": "rolling_mean", "C": "persistence"}
    assert "rolling mean of the last 168 h beat the model" in methods["B"][1]
    assert "did not beat persistence" in methods["C"][1]
    assert {k: m for k, (m, _) in without.items()} == {"C": "persistence"}
