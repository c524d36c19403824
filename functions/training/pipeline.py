"""Training and walk-forward evaluation of the risk and APY models (the only module that
imports scikit-learn).

Run weekly in a container-image function (or `tidewatch train` locally): build samples from
history (Postgres or a folder of CSVs), score both models walk-forward (rolling-origin folds,
see `training.walkforward`), fit the served models on all the history, and write each as a
versioned JSON artifact plus a model card to an artifact store and `model_artifacts`.

Approval gates (docs/models.md), all on the walk-forward results:
* risk — pooled Brier no worse than the closed form's, and reliability within ±5 points in
  every bin with ≥ 200 samples, at each horizon;
* apy — on every head, the served forecast's pooled MAE and RMSE below persistence's, and the
  pooled interval coverage within ±5 points of nominal.

Served per market (the head's fallbacks): the model, unless it does not beat persistence on both
MAE and RMSE over that market's folds (then persistence); and the rolling mean of the last H
hours instead of either where it beats it on both.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast import metrics
from tidewatch.forecast.apy_model import (
    APY_FEATURES,
    FALL_FRACTION,
    RECENT_MAX_HORIZON_HOURS,
    SCORE_QUANTILE_LEVELS,
    ApyHead,
    ApyModel,
    head_key,
    interval_width_unit,
    normalised,
    recent_offsets,
    rolling_mean_feature,
)
from tidewatch.forecast.artifact import Artifact, DataWindow, ModelCard, apy_params, risk_params
from tidewatch.forecast.history import HistoryUnavailable, HourlyHistory
from tidewatch.forecast.market import MarketParams, estimate_market_params
from tidewatch.forecast.risk_model import (
    LOGIT_CLIP,
    RISK_FEATURES,
    CalibrationMap,
    RiskModel,
    logit,
    reference_probability,
)
from tidewatch.forecast.trees import TreeEnsemble
from training import walkforward as wf
from training.datasets import (
    APY_HORIZONS,
    APY_SIDES,
    RISK_HORIZONS,
    ApySamples,
    RiskSamples,
    apy_samples,
    market_kinks,
    risk_samples,
)
from training.weighted_bins import bin_features, to_raw_thresholds

HF_RULE_THRESHOLD = 1.10
INTERVAL_LEVEL = 0.80
COVERAGE_TOLERANCE = 0.05
RELIABILITY_TOLERANCE = 0.05
RELIABILITY_MIN_COUNT = 200
RELIABILITY_EDGES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MIN_RISK_SAMPLES = 200
MIN_APY_SAMPLES = 200
FOLDS = 8
CALIBRATION_HOURS = 28 * 24  # split-conformal: the last four weeks before a cut
TRAIN_STRIDE_HOURS = 4  # hourly samples are strongly autocorrelated; every fourth is enough


@dataclass
class TrainingResult:
    risk: Artifact
    apy: Artifact
    report: dict[str, Any] = field(default_factory=dict)


def _hour_iso(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, tz=UTC)


def _version(created: datetime, payload: str) -> str:
    return created.strftime("%Y%m%dT%H%M%SZ") + "-" + hashlib.sha256(payload.encode()).hexdigest()[:8]


# --- tree export --------------------------------------------------------------------------------


def export_trees(model: Any) -> TreeEnsemble:
    """A fitted HistGradientBoosting{Regressor,Classifier} (one output) as numpy node arrays."""
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    depth = 0
    offset = 0
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        roots.append(offset)
        leaf = nodes["is_leaf"].astype(bool)
        feature.append(np.where(leaf, -1, nodes["feature_idx"]).astype(np.int32))
        threshold.append(nodes["num_threshold"].astype(np.float32).astype(np.float64))
        left.append(np.where(leaf, 0, nodes["left"]) + offset)
        right.append(np.where(leaf, 0, nodes["right"]) + offset)
        value.append(np.where(leaf, nodes["value"], 0.0).astype(np.float32).astype(np.float64))
        depth = max(depth, int(nodes["depth"].max()))
        offset += nodes.size
    if not roots:
        return TreeEnsemble.constant(float(np.ravel(model._baseline_prediction)[0]))
    return TreeEnsemble(
        baseline=float(np.ravel(model._baseline_prediction)[0]),
        feature=np.concatenate(feature),
        threshold=np.concatenate(threshold),
        left=np.concatenate(left).astype(np.int32),
        right=np.concatenate(right).astype(np.int32),
        value=np.concatenate(value),
        roots=np.asarray(roots, dtype=np.int32),
        depth=depth,
    )


# --- risk ---------------------------------------------------------------------------------------


RISK_HALF_LIFE_DAYS = 90.0  # recency weight of training positions: the map follows the regime
RISK_BIN_SAMPLES = 250  # positions per knot: the map is fitted on bin means, not on single 0/1s


def fit_risk_maps(samples: RiskSamples, horizons: tuple[int, ...] = RISK_HORIZONS) -> tuple[CalibrationMap, ...]:
    """One isotonic map of the outcome on logit(reference) per horizon, fitted on the
    (recency-weighted) means of bins of `RISK_BIN_SAMPLES` positions ordered by the reference."""
    from sklearn.isotonic import IsotonicRegression

    q = reference_probability(samples.health_factor, samples.sigma, samples.horizon)
    x = np.clip(logit(q), -LOGIT_CLIP, LOGIT_CLIP)
    age_days = (samples.hour.max() - samples.hour) / 24.0 if len(samples) else np.empty(0)
    weight = np.exp2(-age_days / RISK_HALF_LIFE_DAYS)
    maps = []
    for h in horizons:
        m = samples.horizon == h
        if m.sum() < MIN_RISK_SAMPLES:
            maps.append(CalibrationMap.identity())
            continue
        order = np.argsort(x[m], kind="stable")
        xs, ys, ws = x[m][order], samples.label[m][order].astype(np.float64), weight[m][order]
        bins = np.arange(xs.size) // RISK_BIN_SAMPLES
        wsum = np.bincount(bins, ws)
        bx = np.bincount(bins, ws * xs) / wsum
        by = np.bincount(bins, ws * ys) / wsum
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        p = iso.fit(bx, by, sample_weight=wsum).predict(bx)
        knots_x, first = np.unique(bx, return_index=True)
        maps.append(CalibrationMap(knots_x, np.maximum.accumulate(np.clip(p[first], 0.0, 1.0))))
    return tuple(maps)


def risk_model(version: str, samples: RiskSamples, market: MarketParams) -> RiskModel:
    return RiskModel(version, tuple(float(h) for h in RISK_HORIZONS), fit_risk_maps(samples), market)


def _reliability_ok(table: list[dict[str, Any]]) -> bool:
    return all(
        abs(r["mean_forecast"] - r["observed"]) <= RELIABILITY_TOLERANCE
        for r in table
        if r["count"] >= RELIABILITY_MIN_COUNT
    )


def walk_forward_risk(samples: RiskSamples, market: MarketParams, *, folds: int = FOLDS) -> dict[str, Any]:
    """Rolling-origin folds over the start hours: per fold fit the maps on the purged past,
    score the next weeks; pooled and per-horizon Brier/AUC with block-bootstrap intervals,
    beside the closed form, the HF rule and the training base rate; reliability tables."""
    folds_list = wf.rolling_origin_folds(samples.hour, folds=folds)
    parts: dict[str, list[NDArray[Any]]] = {k: [] for k in ("index", "model", "closed_form", "hf_rule", "base", "fold")}
    per_fold = []
    for fold in folds_list:
        train = samples.take(fold.train_mask(samples.hour, samples.horizon))
        test_mask = fold.test_mask(samples.hour)
        if len(train) < MIN_RISK_SAMPLES or not test_mask.any():
            continue
        test = samples.take(test_mask)
        model = risk_model("fold", train, market)
        p = model.probability(test.health_factor, test.sigma, test.horizon)
        base = np.array(
            [train.label[train.horizon == h].mean() if (train.horizon == h).any() else 0.0 for h in test.horizon]
        )
        parts["index"].append(np.flatnonzero(test_mask))
        parts["model"].append(p)
        parts["closed_form"].append(reference_probability(test.health_factor, test.sigma, test.horizon))
        parts["hf_rule"].append((test.health_factor < HF_RULE_THRESHOLD).astype(np.float64))
        parts["base"].append(base)
        parts["fold"].append(np.full(len(test), fold.index))
        per_fold.append(
            {
                "fold": fold.index,
                "test_start": _hour_iso(fold.cut).isoformat(),
                "test_end": _hour_iso(fold.end).isoformat(),
                "train_samples": len(train),
                "test_samples": len(test),
                "base_rate": float(test.label.mean()),
                "model_brier": metrics.brier(p, test.label),
                "closed_form_brier": metrics.brier(parts["closed_form"][-1], test.label),
                "max_forecast": float(p.max()),
            }
        )
    if not per_fold:
        raise HistoryUnavailable("too little price history for walk-forward risk folds")
    idx = np.concatenate(parts["index"])
    scored = samples.take(np.isin(np.arange(len(samples)), idx))
    order = np.argsort(idx)  # take() keeps index order; align the forecasts with it
    forecasts = {
        "model": np.concatenate(parts["model"])[order],
        "closed_form": np.concatenate(parts["closed_form"])[order],
        f"hf_rule_{HF_RULE_THRESHOLD:.2f}": np.concatenate(parts["hf_rule"])[order],
        "climatology": np.concatenate(parts["base"])[order],  # the training window's base rate
    }
    y = scored.label
    out: dict[str, Any] = {
        "folds": per_fold,
        "samples": len(scored),
        "positives": int(y.sum()),
        "slices": {},
        "reliability": {},
    }
    slices: dict[str, NDArray[np.bool_]] = {"all": np.ones(len(scored), dtype=bool)}
    for h in RISK_HORIZONS:
        slices[f"{h}h"] = scored.horizon == h
    slices["single_asset"] = scored.single_asset
    slices["multi_asset"] = ~scored.single_asset
    for name, m in slices.items():
        if not m.any():
            continue
        blocks = wf.block_ids(scored.hour[m])
        block: dict[str, Any] = {"samples": int(m.sum()), "base_rate": float(y[m].mean())}
        briers = wf.brier_summary({k: v[m] for k, v in forecasts.items()}, y[m], blocks)
        for k, v in forecasts.items():
            block[k] = {**briers[k], "auc": metrics.roc_auc(v[m], y[m])}
        ref = briers["climatology"]["brier"]
        block["model_brier_skill"] = 1.0 - briers["model"]["brier"] / ref if ref > 0 else float("nan")
        block["hf_rank_auc"] = metrics.roc_auc(1.0 / scored.health_factor[m], y[m])
        out["slices"][name] = block
    for h in RISK_HORIZONS:
        m = scored.horizon == h
        if not m.any():
            continue
        out["reliability"][f"{h}h"] = {
            "model": metrics.reliability_table(forecasts["model"][m], y[m], RELIABILITY_EDGES),
            "closed_form": metrics.reliability_table(forecasts["closed_form"][m], y[m], RELIABILITY_EDGES),
        }
    out["reliability_within_tolerance"] = all(_reliability_ok(r["model"]) for r in out["reliability"].values())
    out["max_forecast"] = float(forecasts["model"].max())
    out["_forecasts"] = {
        "model": forecasts["model"],
        "closed_form": forecasts["closed_form"],
        "label": y,
        "horizon": scored.horizon,
    }
    return out


def monte_carlo_reference(samples: RiskSamples, *, paths: int = 2_000, seed: int = 5) -> NDArray[np.float64]:
    """The correlated Monte Carlo probability of each (multi-asset) sample."""
    from tidewatch.forecast.reference import monte_carlo_probability

    out = np.empty(len(samples))
    for i in range(len(samples)):
        s1, s2 = samples.leg_sigma[i]
        rho = samples.rho[i]
        cov = np.array([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]])
        hf, a = samples.health_factor[i], samples.split[i]
        if samples.shape[i] == "pair":
            args = ([hf * a, hf * (1.0 - a)], [0.0, 0.0], 0.0, 1.0)
        else:  # cross: volatile collateral against a different volatile debt
            args = ([hf, 0.0], [0.0, 1.0], 0.0, 0.0)
        out[i] = monte_carlo_probability(*args, cov, int(samples.horizon[i]), paths=paths, seed=seed + i)
    return out


def evaluate_against_monte_carlo(
    samples: RiskSamples, model: RiskModel, *, limit: int = 300, seed: int = 3
) -> dict[str, Any]:
    """On a random subset of multi-asset positions: model and one-factor closed form beside the
    exact (correlated Monte Carlo) reference, all scored on the realised outcomes."""
    multi = np.flatnonzero(~samples.single_asset)
    if multi.size == 0 or limit <= 0:
        return {}
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(samples), dtype=bool)
    chosen[rng.choice(multi, size=min(limit, multi.size), replace=False)] = True
    subset = samples.take(chosen)
    mc = monte_carlo_reference(subset)
    model_p = model.probability(subset.health_factor, subset.sigma, subset.horizon)
    one_factor = reference_probability(subset.health_factor, subset.sigma, subset.horizon)
    y = subset.label
    block: dict[str, Any] = {"samples": len(subset), "base_rate": float(y.mean())}
    for name, p in (("model", model_p), ("closed_form_one_factor", one_factor), ("monte_carlo", mc)):
        block[name] = {"brier": metrics.brier(p, y), "auc": metrics.roc_auc(p, y)}
    block["mean_abs_diff_model_vs_monte_carlo"] = float(np.mean(np.abs(model_p - mc)))
    block["mean_abs_diff_one_factor_vs_monte_carlo"] = float(np.mean(np.abs(one_factor - mc)))
    return block


# --- apy ----------------------------------------------------------------------------------------


def _one_thread() -> Any:
    """One OpenMP thread for the boosted-tree fits: the fits are small, and on a shared or
    throttled CPU OpenMP's spinning threads make them many times slower, not faster."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _fit_point(x: NDArray[np.float64], target: NDArray[np.float64], weight: NDArray[np.float64]) -> TreeEnsemble:
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=40,
        learning_rate=0.1,
        max_leaf_nodes=8,
        min_samples_leaf=200,
        early_stopping=False,
        random_state=0,
    )
    binned = bin_features(x, weight)
    with _one_thread():
        model.fit(binned.codes, target, sample_weight=weight)
    return to_raw_thresholds(export_trees(model), binned)


def _fit_fall(x: NDArray[np.float64], falls: NDArray[np.bool_]) -> TreeEnsemble:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if falls.all() or not falls.any():
        return TreeEnsemble.constant(10.0 if falls.all() else -10.0)
    model = HistGradientBoostingClassifier(
        max_iter=30, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=200, early_stopping=False, random_state=0
    )
    with _one_thread():
        model.fit(x, falls.astype(int))
    return export_trees(model)


def _falls(samples: ApySamples) -> NDArray[np.bool_]:
    return np.asarray(samples.target < (1.0 - FALL_FRACTION) * samples.features[:, 0])


@dataclass(frozen=True)
class ApyHeadOptions:
    """How one head is fitted and served: the feature its point change is measured from
    (`ApyHead.anchor`), whether the adaptive level's score grid is made symmetric about the
    scores' median (the calibration weeks' skew then does not carry into the test weeks), and
    whether a market may be served the rolling mean where it beat the model walk-forward."""

    anchor: str = "last"
    symmetric_scores: bool = False
    rolling_mean_fallback: bool = True


#: Per (side, horizon); every other head uses the defaults. 7-day borrow anchored at the 168 h
#: mean beats the rolling mean walk-forward with its intervals in band in every fold. For 7-day
#: supply, the same anchor and the rolling-mean fallback each beat the rolling mean pooled too,
#: but each put a fold's interval coverage outside ±5 points, so it stays as it was
#: (docs/models.md, "7-day variants tried").
APY_HEAD_OPTIONS: dict[tuple[str, int], ApyHeadOptions] = {
    ("borrow", 168): ApyHeadOptions(anchor="mean_168h", symmetric_scores=True),
    ("supply", 168): ApyHeadOptions(rolling_mean_fallback=False),
}


def _grid_scores(scaled: NDArray[np.float64], symmetric: bool) -> NDArray[np.float64]:
    """The calibration scores the adaptive level's quantile grid is taken from: as they are, or
    with each one's mirror image about their median added."""
    if not symmetric:
        return scaled
    return np.concatenate([scaled, 2.0 * float(np.median(scaled)) - scaled])


def fit_apy_head(data: ApySamples, horizon: int, cut: int, options: ApyHeadOptions | None = None) -> ApyHead | None:
    """Fit on the samples whose target ends before `cut − CALIBRATION_HOURS`, calibrate the
    conformal interval on the (purged) weeks from there to the cut; None when too few samples."""
    options = options or ApyHeadOptions()
    # Short histories (a new deployment) calibrate on the last quarter before the cut.
    span = cut - int(data.hour.min(initial=cut))
    calib_start = cut - min(CALIBRATION_HOURS, max(horizon + 96, span // 4))
    fit_mask = data.hour + horizon < calib_start
    if fit_mask.sum() > 20 * MIN_APY_SAMPLES * TRAIN_STRIDE_HOURS:
        fit_mask &= data.hour % TRAIN_STRIDE_HOURS == 0
    cal_mask = (data.hour >= calib_start) & (data.hour + horizon < cut)
    if fit_mask.sum() < MIN_APY_SAMPLES or cal_mask.sum() < 50:
        return None
    train, cal = data.take(fit_mask), data.take(cal_mask)
    x, s = normalised(train.features)
    anchor = train.features[:, APY_FEATURES.index(options.anchor)]
    point = _fit_point(x, (train.target - anchor) / s, s)
    fall = _fit_fall(x, _falls(train))
    rolling_feature = rolling_mean_feature(horizon)
    provisional = ApyHead(
        point, fall, 0.0, 0.0, INTERVAL_LEVEL, anchor=options.anchor, rolling_mean_feature=rolling_feature
    )
    predicted, *_ = provisional.predict(cal.features)
    scaled = (cal.target - predicted) / interval_width_unit(cal.features)
    alpha = (1.0 - INTERVAL_LEVEL) / 2.0
    n = scaled.size
    # Finite-sample split-conformal quantile levels.
    lo = float(np.quantile(scaled, max(0.0, math.floor(alpha * (n + 1)) / n)))
    hi = float(np.quantile(scaled, min(1.0, math.ceil((1.0 - alpha) * (n + 1)) / n)))
    # The adaptive level's quantile grid, for the heads that use it (6 significant digits:
    # the artifact stays small and serving reads exactly what was evaluated).
    grid = (
        tuple(
            float(f"{q:.6g}")
            for q in np.quantile(_grid_scores(scaled, options.symmetric_scores), SCORE_QUANTILE_LEVELS)
        )
        if horizon > RECENT_MAX_HORIZON_HOURS
        else ()
    )
    return ApyHead(
        point, fall, lo, hi, INTERVAL_LEVEL, grid, anchor=options.anchor, rolling_mean_feature=rolling_feature
    )


def _apy_scores(
    truth: NDArray[np.float64],
    forecasts: dict[str, NDArray[np.float64]],
    hours: NDArray[np.int64],
    markets: NDArray[np.str_],
    *,
    against_rolling_mean: bool = False,
) -> dict[str, Any]:
    """MAE / RMSE of each forecast with intervals, the paired served − persistence MAE and (with
    `against_rolling_mean`) the paired served − rolling mean MAE."""
    blocks = wf.block_ids(hours, markets)
    summary: dict[str, Any] = wf.error_summary({k: v - truth for k, v in forecasts.items()}, blocks, scale=100.0)
    diff = wf.paired_difference(np.abs(forecasts["served"] - truth), np.abs(forecasts["persistence"] - truth), blocks)
    summary["served_minus_persistence_mae"] = {"mean": 100 * diff[0], "ci": [100 * diff[1], 100 * diff[2]]}
    if against_rolling_mean:
        roll = next(k for k in forecasts if k.startswith("rolling_mean"))
        diff = wf.paired_difference(np.abs(forecasts["served"] - truth), np.abs(forecasts[roll] - truth), blocks)
        summary["served_minus_rolling_mean_mae"] = {"mean": 100 * diff[0], "ci": [100 * diff[1], 100 * diff[2]]}
    summary["samples"] = int(truth.size)
    return summary


def recent_scores(
    data: ApySamples, head: ApyHead, horizon: int, rows: NDArray[np.int64], *, method: str = "model"
) -> NDArray[np.float64]:
    """For each sample in `rows`: the scaled residuals (truth − point) / w of its market's recent
    origins (`recent_offsets`: outcomes known at the sample's hour), NaN where there is no sample;
    the same window `forecast_apy` reads from a market's history when serving. The point is that
    of `method`: "model", "persistence" or "rolling_mean"."""
    offsets = recent_offsets(horizon)
    out = np.full((rows.size, offsets.size), np.nan)
    if rows.size == 0 or offsets.size == 0:
        return out
    earliest = int(data.hour[rows].min()) - int(offsets.max())
    markets = data.market[rows]
    for market in np.unique(markets):
        subset = data.take((data.market == market) & (data.hour >= earliest))
        flags = np.ones(len(subset), dtype=bool)
        point = head.served_point(
            subset.features,
            flags if method == "persistence" else None,
            rolling_mean=flags if method == "rolling_mean" else None,
        )
        scores = (subset.target - point) / interval_width_unit(subset.features)
        start = int(subset.hour.min())
        dense = np.full(int(subset.hour.max()) - start + 1, np.nan)
        dense[subset.hour - start] = scores
        targets = np.flatnonzero(markets == market)
        index = data.hour[rows[targets]][:, None] - offsets[None, :] - start
        valid = (index >= 0) & (index < dense.size)
        block = np.full(index.shape, np.nan)
        block[valid] = dense[index[valid]]
        out[targets] = block
    return out


def _served_methods(
    c: dict[str, NDArray[Any]], horizon: int, *, rolling_mean: bool = True
) -> dict[str, tuple[str, str]]:
    """Per market of the pooled folds `c`: the method served and why, for the markets not served
    the model. Persistence where the model does not beat it on MAE and RMSE; then (with
    `rolling_mean`) the rolling mean instead of either where it beats it on both."""
    out: dict[str, tuple[str, str]] = {}
    for market in sorted(set(c["market"].tolist())):
        m = c["market"] == market
        truth = c["truth"][m]

        def scores(name: str, m: NDArray[np.bool_] = m, truth: NDArray[np.float64] = truth) -> tuple[float, float]:
            return metrics.mae(c[name][m], truth), metrics.rmse(c[name][m], truth)

        (mae_m, rmse_m), (mae_p, rmse_p), (mae_r, rmse_r) = scores("model"), scores("last"), scores("roll")
        served, mae_s, rmse_s = "model", mae_m, rmse_m
        if not (mae_m < mae_p and rmse_m < rmse_p):
            served, mae_s, rmse_s = "persistence", mae_p, rmse_p
            out[market] = (
                "persistence",
                f"the model did not beat persistence walk-forward (MAE {100 * mae_m:.3f} vs {100 * mae_p:.3f} pp, "
                f"RMSE {100 * rmse_m:.3f} vs {100 * rmse_p:.3f} pp): the current value is served",
            )
        if rolling_mean and mae_r < mae_s and rmse_r < rmse_s:
            out[market] = (
                "rolling_mean",
                f"the rolling mean of the last {horizon} h beat the {served} walk-forward (MAE {100 * mae_r:.3f} vs "
                f"{100 * mae_s:.3f} pp, RMSE {100 * rmse_r:.3f} vs {100 * rmse_s:.3f} pp): the rolling mean is served",
            )
    return out


def walk_forward_apy_head(
    data: ApySamples, horizon: int, *, folds: int = FOLDS, options: ApyHeadOptions | None = None
) -> dict[str, Any]:
    """Rolling-origin folds for one head: the raw model, the served forecast (persistence or the
    rolling mean for the markets where the model loses to it), persistence and the rolling mean,
    per market and pooled, MAE and RMSE with block-bootstrap intervals; interval coverage and the
    fall label per fold."""
    fold_rows: list[dict[str, Any]] = []
    names = ("fold", "hour", "market", "truth", "model", "last", "roll", "fall", "falls", "base")
    bound_names = ("lower", "upper", "lower_p", "upper_p", "lower_r", "upper_r", "lower_pooled", "upper_pooled")
    collected: dict[str, list[NDArray[Any]]] = {k: [] for k in (*names, *bound_names)}
    for fold in wf.rolling_origin_folds(data.hour, folds=folds):
        head = fit_apy_head(data, horizon, fold.cut, options)
        test_mask = fold.test_mask(data.hour)
        if head is None or not test_mask.any():
            continue
        test = data.take(test_mask)
        test_index = np.flatnonzero(test_mask)
        # The interval as served: quantiles of the market's recent residuals (of the model's
        # point, or of the baseline for a market served one), else the pooled ones.
        bounds = head.recent_bounds(recent_scores(data, head, horizon, test_index), horizon)
        point, lower, upper, fall = head.predict(test.features, None, bounds)
        flags = np.ones(len(test), dtype=bool)
        bounds_p = head.recent_bounds(recent_scores(data, head, horizon, test_index, method="persistence"), horizon)
        _, lower_p, upper_p, _ = head.predict(test.features, flags, bounds_p)
        bounds_r = head.recent_bounds(recent_scores(data, head, horizon, test_index, method="rolling_mean"), horizon)
        _, lower_r, upper_r, _ = head.predict(test.features, None, bounds_r, rolling_mean=flags)
        _, lower_pooled, upper_pooled, _ = head.predict(test.features)
        truth = test.target
        train_falls = _falls(data.take(data.hour + horizon < fold.cut))
        for k, v in (
            ("fold", np.full(len(test), fold.index)),
            ("hour", test.hour),
            ("market", test.market),
            ("truth", truth),
            ("model", point),
            ("last", test.features[:, 0]),
            ("roll", test.rolling_mean),
            ("lower", lower),
            ("upper", upper),
            ("lower_p", lower_p),
            ("upper_p", upper_p),
            ("lower_r", lower_r),
            ("upper_r", upper_r),
            ("lower_pooled", lower_pooled),
            ("upper_pooled", upper_pooled),
            ("fall", fall),
            ("falls", _falls(test)),
            ("base", np.full(len(test), train_falls.mean())),
        ):
            collected[k].append(v)
        fold_rows.append(
            {
                "fold": fold.index,
                "test_start": _hour_iso(fold.cut).isoformat(),
                "test_end": _hour_iso(fold.end).isoformat(),
                "test_samples": len(test),
                "model_mae_pp": 100 * metrics.mae(point, truth),
                "persistence_mae_pp": 100 * metrics.mae(test.features[:, 0], truth),
            }
        )
    if not fold_rows:
        raise HistoryUnavailable(f"too little rate history for walk-forward folds of the {horizon} h APY model")
    c = {k: np.concatenate(v) for k, v in collected.items()}
    # Per market the method served: persistence where the model does not beat it, the rolling
    # mean where it beats either (MAE and RMSE, that market's pooled folds).
    methods = _served_methods(c, horizon, rolling_mean=(options or ApyHeadOptions()).rolling_mean_fallback)
    persistence_markets = {k: why for k, (method, why) in methods.items() if method == "persistence"}
    rolling_mean_markets = {k: why for k, (method, why) in methods.items() if method == "rolling_mean"}
    by_persistence = np.isin(c["market"], list(persistence_markets))
    by_rolling = np.isin(c["market"], list(rolling_mean_markets))
    lower = np.where(by_persistence, c["lower_p"], np.where(by_rolling, c["lower_r"], c["lower"]))
    upper = np.where(by_persistence, c["upper_p"], np.where(by_rolling, c["upper_r"], c["upper"]))
    covered = (c["truth"] >= lower) & (c["truth"] <= upper)
    covered_pooled = (c["truth"] >= c["lower_pooled"]) & (c["truth"] <= c["upper_pooled"])
    for row in fold_rows:
        f = c["fold"] == row["fold"]
        row["coverage"] = float(covered[f].mean())
        row["coverage_pooled_quantiles"] = float(covered_pooled[f].mean())
        row["mean_width_pp"] = 100 * float(np.mean(upper[f] - lower[f]))
    served = np.where(by_persistence, c["last"], np.where(by_rolling, c["roll"], c["model"]))
    forecasts = {"model": c["model"], "served": served, "persistence": c["last"], f"rolling_mean_{horizon}h": c["roll"]}
    pooled = _apy_scores(c["truth"], forecasts, c["hour"], c["market"], against_rolling_mean=True)
    per_market = {}
    for market in sorted(set(c["market"].tolist())):
        m = c["market"] == market
        per_market[market] = _apy_scores(
            c["truth"][m], {k: v[m] for k, v in forecasts.items()}, c["hour"][m], c["market"][m]
        )
        per_market[market]["served_method"] = methods.get(market, ("model", ""))[0]
    blocks = wf.block_ids(c["hour"], c["market"])
    cov_ci = wf.interval(wf.bootstrap_means(covered.astype(np.float64)[:, None], blocks)[:, 0])
    fall_scores = wf.brier_summary({"model": c["fall"], "base_rate": c["base"]}, c["falls"], blocks)
    fall_block = {
        "base_rate": float(c["falls"].mean()),
        "brier": fall_scores["model"]["brier"],
        "brier_ci": fall_scores["model"]["brier_ci"],
        "brier_base_rate": fall_scores["base_rate"]["brier"],
        "brier_skill": 1.0 - fall_scores["model"]["brier"] / fall_scores["base_rate"]["brier"]
        if fall_scores["base_rate"]["brier"] > 0
        else float("nan"),
        "auc": metrics.roc_auc(c["fall"], c["falls"]),
    }
    return {
        "pooled": pooled,
        "per_market": per_market,
        "folds": fold_rows,
        "interval_level": INTERVAL_LEVEL,
        "interval_coverage": float(covered.mean()),
        "interval_coverage_ci": list(cov_ci),
        "interval_coverage_folds_within_tolerance": all(
            abs(r["coverage"] - INTERVAL_LEVEL) <= COVERAGE_TOLERANCE for r in fold_rows
        ),
        "fall": fall_block,
        "persistence_markets": persistence_markets,
        "rolling_mean_markets": rolling_mean_markets,
        "beats_persistence": bool(
            pooled["served"]["mae"] < pooled["persistence"]["mae"]
            and pooled["served"]["rmse"] < pooled["persistence"]["rmse"]
        ),
    }


# --- the whole run ------------------------------------------------------------------------------


def train_and_evaluate(
    history: HourlyHistory,
    *,
    created: datetime | None = None,
    generated_data: bool = False,
    stride_hours: int = 6,
    monte_carlo_positions: int = 300,
    folds: int = FOLDS,
) -> TrainingResult:
    """Score both models walk-forward, then fit the served models on all the history."""
    created = created or datetime.now(UTC)
    if not history.prices:
        raise HistoryUnavailable("no price history: the risk model needs prices/*.csv or asset_prices rows")
    if not history.rates:
        raise HistoryUnavailable("no market rate history: the APY model needs rates/*.csv or market_rates rows")
    first, last = history.window()

    # Risk: correlations from the first fold's training window (before every test period);
    # volatilities are trailing per sample.
    probe = risk_samples(history, estimate_market_params(history.prices, window_hours=10**6), stride_hours=stride_hours)
    if len(probe) < MIN_RISK_SAMPLES:
        raise HistoryUnavailable(f"too little price history for the risk model ({len(probe)} samples)")
    first_cut = wf.rolling_origin_folds(probe.hour, folds=folds)[0].cut
    samples = risk_samples(
        history,
        estimate_market_params(history.prices, end_hour=first_cut, window_hours=10**6),
        stride_hours=stride_hours,
    )
    risk_report = walk_forward_risk(samples, estimate_market_params(history.prices), folds=folds)
    risk_forecasts = risk_report.pop("_forecasts")
    serving_market = estimate_market_params(history.prices)  # the newest 30 days, for serving
    final_risk = risk_model("pending", samples, serving_market)
    last_fold = wf.rolling_origin_folds(samples.hour, folds=folds)[-1]
    risk_report["multi_asset_monte_carlo"] = evaluate_against_monte_carlo(
        samples.take(last_fold.test_mask(samples.hour)),
        risk_model("fold", samples.take(last_fold.train_mask(samples.hour, samples.horizon)), serving_market),
        limit=monte_carlo_positions,
    )

    # APY: one head per (side, horizon).
    kinks = market_kinks(history)
    heads: dict[str, ApyHead] = {}
    apy_report: dict[str, Any] = {}
    apy_train_samples = 0
    end_cut = last + 1
    for side in APY_SIDES:
        for horizon in APY_HORIZONS:
            data = apy_samples(history, side, horizon, kinks)
            if len(data) < MIN_APY_SAMPLES:
                raise HistoryUnavailable(
                    f"too little {side} rate history for the {horizon} h APY model ({len(data)} samples)"
                )
            options = APY_HEAD_OPTIONS.get((side, horizon), ApyHeadOptions())
            block = walk_forward_apy_head(data, horizon, folds=folds, options=options)
            head = fit_apy_head(data, horizon, end_cut, options)
            if head is None:
                raise HistoryUnavailable(f"too little {side} rate history for the {horizon} h APY model")
            heads[head_key(side, horizon)] = replace(
                head,
                persistence_markets=dict(block["persistence_markets"]),
                rolling_mean_markets=dict(block["rolling_mean_markets"]),
            )
            block["anchor"] = options.anchor
            block["symmetric_scores"] = options.symmetric_scores
            apy_train_samples += int((data.hour + horizon < end_cut - CALIBRATION_HOURS).sum())
            apy_report[head_key(side, horizon)] = block

    window = DataWindow(start=_hour_iso(first), end=_hour_iso(last))
    price_window = DataWindow(start=_hour_iso(history.window("prices")[0]), end=_hour_iso(history.window("prices")[1]))
    rate_window = DataWindow(start=_hour_iso(history.window("rates")[0]), end=_hour_iso(history.window("rates")[1]))
    source_note = "generated scenarios" if generated_data else history.source
    params = risk_params(final_risk)
    risk_version = _version(created, repr(params))
    risk_card = ModelCard(
        kind="risk",
        version=risk_version,
        created_at=created,
        data_source=source_note,
        data_window=price_window,
        generated_data=generated_data,
        features=list(RISK_FEATURES),
        training_samples=len(samples),
        metrics=_finite(risk_report),
        notes=[
            "Synthetic positions (HF 1.005-2.0, single/pair/cross shapes) opened on real hourly price paths; "
            "label = realised HF < 1 at any hour within the horizon.",
            "P = isotonic map of the closed-form reference per horizon (interpolated in ln T): monotone in HF and "
            "volatility, P -> 1 as HF -> 1, fat tails from the realised outcomes.",
            f"Walk-forward: {len(risk_report['folds'])} rolling-origin folds, purge gap = horizon.",
            "Serving volatility/correlation table: the last 30 days of the data window.",
        ],
    )
    apy_model = ApyModel("pending", heads, kinks)
    a_params = apy_params(apy_model)
    apy_version = _version(created, repr(a_params))
    fallback_notes = [
        f"{key}: {name} served for {', '.join(block[field])}"
        for key, block in apy_report.items()
        for name, field in (("persistence", "persistence_markets"), ("the rolling mean", "rolling_mean_markets"))
        if block[field]
    ]
    anchored = [f"{key} ({block['anchor']})" for key, block in apy_report.items() if block["anchor"] != "last"]
    symmetric = [key for key, block in apy_report.items() if block["symmetric_scores"]]
    apy_card = ModelCard(
        kind="apy",
        version=apy_version,
        created_at=created,
        data_source=source_note,
        data_window=rate_window,
        generated_data=generated_data,
        features=list(APY_FEATURES),
        training_samples=apy_train_samples,
        metrics=_finite(apy_report),
        notes=[
            "Target: mean APY over the next H hours; forecast = current value + median-boosted-tree change"
            + (f"; heads anchored at a rolling mean instead: {', '.join(anchored)}." if anchored else "."),
            f"'fall' = mean APY over the horizon more than {int(FALL_FRACTION * 100)} % below the current APY.",
            "Interval (24 h): split-conformal on the market's own residuals of the last 14 days (as served), "
            "else on the last 28 days before the cut, pooled. Interval (7 d): the quantiles of the 28 days "
            "before the cut at an adaptive conformal level replayed over the market's outcomes of the last 42 days"
            + (f" (made symmetric about their median for {', '.join(symmetric)})." if symmetric else "."),
            *(fallback_notes or ["The model beats both baselines walk-forward on every market and head."]),
        ],
    )
    return TrainingResult(
        risk=Artifact(kind="risk", card=risk_card, params=params),
        apy=Artifact(kind="apy", card=apy_card, params=a_params),
        report={
            "risk": risk_report,
            "apy": apy_report,
            "data_window": window.model_dump(mode="json"),
            "data_source": source_note,
            "_risk_forecasts": risk_forecasts,
        },
    )


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined metrics become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def approval_failures(artifact: Artifact) -> list[str]:
    """Why the walk-forward results do not pass the gates (empty: approved)."""
    m = artifact.card.metrics
    failures: list[str] = []
    if artifact.kind == "risk":
        block = m.get("slices", {}).get("all", {})
        model, ref = block.get("model", {}).get("brier"), block.get("closed_form", {}).get("brier")
        if model is None or ref is None or model > ref:
            failures.append(f"risk: pooled Brier {model} is worse than the closed form's {ref}")
        if not m.get("reliability_within_tolerance", False):
            failures.append("risk: a reliability bin with >= 200 samples is off by more than 5 points")
        return failures
    for key, block in m.items():
        if not isinstance(block, dict) or "pooled" not in block:
            continue
        if not block.get("beats_persistence"):
            failures.append(f"apy {key}: does not beat persistence pooled (MAE and RMSE)")
        coverage = block.get("interval_coverage")
        if coverage is None or abs(coverage - INTERVAL_LEVEL) > COVERAGE_TOLERANCE:
            failures.append(f"apy {key}: interval coverage {coverage} is not within 5 points of {INTERVAL_LEVEL}")
    if not any(isinstance(b, dict) and "pooled" in b for b in m.values()):
        failures.append("apy: no walk-forward results")
    return failures


def approve(artifact: Artifact) -> bool:
    """The approval gates (see the module docstring)."""
    return not approval_failures(artifact)


def run_training(
    history: HourlyHistory,
    store: Any,
    database: Any | None = None,
    *,
    created: datetime | None = None,
    generated_data: bool = False,
    approve_all: bool = False,
    monte_carlo_positions: int = 300,
    folds: int = FOLDS,
) -> TrainingResult:
    """Train, evaluate, publish both artifacts to `store` and record them in `model_artifacts`."""
    from tidewatch.forecast.repository import record_artifact
    from training.store import publish

    result = train_and_evaluate(
        history,
        created=created,
        generated_data=generated_data,
        monte_carlo_positions=monte_carlo_positions,
        folds=folds,
    )
    for artifact in (result.risk, result.apy):
        uri = publish(store, artifact)
        failures = approval_failures(artifact)
        approved = approve_all or not failures
        result.report.setdefault("published", []).append(
            {
                "kind": artifact.kind,
                "version": artifact.card.version,
                "uri": uri,
                "approved": approved,
                "gate_failures": failures,
            }
        )
        if database is not None:
            record_artifact(database, artifact, uri, approved=approved)
    return result
