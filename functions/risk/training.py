"""Training and evaluation of the risk and APY models (the only module that imports sklearn).

Run weekly in a container-image function (or `tidewatch train` locally): build samples from
history (Postgres or a folder of CSVs), fit on a time-ordered split, evaluate on the hold-out,
write each model as a versioned JSON artifact plus a model card to an artifact store and record
it in `model_artifacts`. Approval gates (documented in docs/models.md): the risk model is
approved when its hold-out Brier score is no worse than the closed-form reference's; the APY
model when its 80 % interval covers 65-95 % of the hold-out (the hold-out is later, usually calmer or wilder than the calibration split, so exact coverage is not expected).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression, Ridge

from risk.datasets import APY_HORIZONS, APY_SIDES, ApySamples, RiskSamples, apy_samples, risk_samples, time_cutoffs
from tidewatch.forecast import metrics
from tidewatch.forecast.apy_model import (
    APY_FEATURES,
    FALL_FRACTION,
    ApyHead,
    ApyModel,
    head_key,
    interval_scale,
    normalised,
)
from tidewatch.forecast.artifact import Artifact, DataWindow, ModelCard, apy_params, risk_params
from tidewatch.forecast.history import HistoryUnavailable, MarketHistory
from tidewatch.forecast.market import estimate_market_params
from tidewatch.forecast.risk_model import RISK_FEATURES, RiskModel, risk_features

HF_RULE_THRESHOLD = 1.10
INTERVAL_LEVEL = 0.80
MIN_RISK_SAMPLES = 200
MIN_APY_SAMPLES = 200


@dataclass
class TrainingResult:
    risk: Artifact
    apy: Artifact
    report: dict[str, Any] = field(default_factory=dict)


def _hour_iso(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, tz=UTC)


def _version(created: datetime, payload: str) -> str:
    return created.strftime("%Y%m%dT%H%M%SZ") + "-" + hashlib.sha256(payload.encode()).hexdigest()[:8]


# --- risk -------------------------------------------------------------------------------------


def fit_risk(samples: RiskSamples) -> tuple[NDArray[np.float64], float]:
    """Logistic regression on the risk features with the monotonicity sign constraints.

    A coefficient with the wrong sign (z must not raise risk; the reference's logit must not
    lower it) is dropped and the model refitted, so the fitted model is monotone by construction.
    """
    x = risk_features(samples.health_factor, samples.sigma, samples.horizon)
    y = samples.label.astype(int)
    active = list(range(len(RISK_FEATURES)))
    wrong_sign = {0: lambda c: c > 0, 1: lambda c: c < 0}
    while True:
        model = LogisticRegression(C=10.0, max_iter=2000)
        model.fit(x[:, active], y)
        coef = np.zeros(len(RISK_FEATURES))
        coef[active] = model.coef_[0]
        bad = [i for i in active if i in wrong_sign and wrong_sign[i](coef[i])]
        if not bad:
            return coef, float(model.intercept_[0])
        active = [i for i in active if i != bad[0]]


def _risk_scores(samples: RiskSamples, model: RiskModel) -> dict[str, NDArray[np.float64]]:
    from tidewatch.forecast.reference import first_passage_lower

    return {
        "model": model.probability(samples.health_factor, samples.sigma, samples.horizon),
        "closed_form_reference": first_passage_lower(1.0 / samples.health_factor, samples.sigma, samples.horizon),
        f"hf_rule_{HF_RULE_THRESHOLD:.2f}": (samples.health_factor < HF_RULE_THRESHOLD).astype(np.float64),
    }


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
    """On a random subset of multi-asset hold-out positions: model and one-factor closed form
    beside the exact (correlated Monte Carlo) reference, all scored on the realised outcomes."""
    from tidewatch.forecast.reference import first_passage_lower

    multi = np.flatnonzero(~samples.single_asset)
    if multi.size == 0 or limit <= 0:
        return {}
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(samples), dtype=bool)
    chosen[rng.choice(multi, size=min(limit, multi.size), replace=False)] = True
    subset = samples.take(chosen)
    mc = monte_carlo_reference(subset)
    model_p = model.probability(subset.health_factor, subset.sigma, subset.horizon)
    one_factor = first_passage_lower(1.0 / subset.health_factor, subset.sigma, subset.horizon)
    y = subset.label
    block: dict[str, Any] = {"samples": len(subset), "base_rate": float(y.mean())}
    for name, p in (("model", model_p), ("closed_form_one_factor", one_factor), ("monte_carlo", mc)):
        block[name] = {"brier": metrics.brier(p, y), "auc": metrics.roc_auc(p, y)}
    block["mean_abs_diff_model_vs_monte_carlo"] = float(np.mean(np.abs(model_p - mc)))
    block["mean_abs_diff_one_factor_vs_monte_carlo"] = float(np.mean(np.abs(one_factor - mc)))
    return block


def evaluate_risk(samples: RiskSamples, model: RiskModel, *, monte_carlo_positions: int = 300) -> dict[str, Any]:
    out: dict[str, Any] = {"samples": len(samples), "positives": int(samples.label.sum())}
    groups: dict[str, NDArray[np.bool_]] = {"all": np.ones(len(samples), dtype=bool)}
    for h in sorted(set(samples.horizon.tolist())):
        groups[f"{int(h)}h"] = samples.horizon == h
    groups["single_asset"] = samples.single_asset
    groups["multi_asset"] = ~samples.single_asset
    scores = _risk_scores(samples, model)
    for name, mask in groups.items():
        if not mask.any():
            continue
        y = samples.label[mask]
        block: dict[str, Any] = {"samples": int(mask.sum()), "base_rate": float(y.mean())}
        for scorer, p in scores.items():
            block[scorer] = {"brier": metrics.brier(p[mask], y), "auc": metrics.roc_auc(p[mask], y)}
        # The ranking an HF-only rule can achieve at best (any threshold): AUC of 1/HF.
        block["hf_rank_auc"] = metrics.roc_auc(1.0 / samples.health_factor[mask], y)
        out[name] = block
    out["multi_asset_monte_carlo"] = evaluate_against_monte_carlo(samples, model, limit=monte_carlo_positions)
    out["reliability_model"] = metrics.reliability_table(scores["model"], samples.label)
    out["reliability_reference"] = metrics.reliability_table(scores["closed_form_reference"], samples.label)
    return out


# --- apy --------------------------------------------------------------------------------------


GATE_CANDIDATES = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def fit_apy_head(train: ApySamples, calibration: ApySamples) -> ApyHead:
    """Ridge on level-normalised features/target; the quiet-market gate and the interval
    quantiles are chosen on the calibration split (never on the hold-out)."""
    x, s = normalised(train.features)
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
    xs = (x - mean) / scale
    last = train.features[:, 0]
    reg = Ridge(alpha=10.0).fit(xs, (train.target - last) / s)
    falls = train.target < (1.0 - FALL_FRACTION) * last
    if falls.all() or not falls.any():
        fall_coef, fall_intercept = np.zeros(x.shape[1]), (10.0 if falls.all() else -10.0)
    else:
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(xs, falls.astype(int))
        fall_coef, fall_intercept = clf.coef_[0], float(clf.intercept_[0])
    cal = calibration if len(calibration) >= 50 else train

    def head(gate: float, low: float = 0.0, high: float = 0.0) -> ApyHead:
        return ApyHead(
            mean, scale, reg.coef_, float(reg.intercept_), low, high, INTERVAL_LEVEL, fall_coef, fall_intercept, gate
        )

    gate = min(GATE_CANDIDATES, key=lambda g: metrics.mae(head(g).predict(cal.features)[0], cal.target))
    point, *_ = head(gate).predict(cal.features)
    scaled = (cal.target - point) / interval_scale(cal.features)
    alpha = (1.0 - INTERVAL_LEVEL) / 2.0
    return head(gate, float(np.quantile(scaled, alpha)), float(np.quantile(scaled, 1.0 - alpha)))


def evaluate_apy_head(test: ApySamples, head: ApyHead, horizon: int) -> dict[str, Any]:
    point, lower, upper, fall = head.predict(test.features)
    last = test.features[:, 0]
    truth = test.target
    falls = truth < (1.0 - FALL_FRACTION) * last
    pp = 100.0  # report in percentage points
    result: dict[str, Any] = {
        "samples": len(test),
        "markets": sorted(set(test.market.tolist())),
        "model": {"mae_pp": pp * metrics.mae(point, truth), "rmse_pp": pp * metrics.rmse(point, truth)},
        "persistence": {"mae_pp": pp * metrics.mae(last, truth), "rmse_pp": pp * metrics.rmse(last, truth)},
        f"rolling_mean_{horizon}h": {
            "mae_pp": pp * metrics.mae(test.rolling_mean, truth),
            "rmse_pp": pp * metrics.rmse(test.rolling_mean, truth),
        },
        "interval_coverage": float(np.mean((truth >= lower) & (truth <= upper))),
        "interval_mean_width_pp": pp * float(np.mean(upper - lower)),
        "interval_level": head.interval_level,
        "quiet_gate_cv": head.gate_cv,
        "fall": {
            "base_rate": float(falls.mean()),
            "brier": metrics.brier(fall, falls),
            "brier_base_rate": metrics.brier(np.full(falls.size, falls.mean()), falls),
            "auc": metrics.roc_auc(fall, falls),
            "accuracy": float(np.mean((fall >= 0.5) == falls)),
            "accuracy_always_stay": float(np.mean(~falls)),
        },
    }
    result["beats_persistence"] = bool(result["model"]["mae_pp"] < result["persistence"]["mae_pp"])
    per_market: dict[str, Any] = {}
    for market in result["markets"]:
        m = test.market == market
        per_market[market] = {
            "samples": int(m.sum()),
            "model_mae_pp": pp * metrics.mae(point[m], truth[m]),
            "persistence_mae_pp": pp * metrics.mae(last[m], truth[m]),
            "rolling_mean_mae_pp": pp * metrics.mae(test.rolling_mean[m], truth[m]),
        }
    result["per_market"] = per_market
    return result


# --- the whole run ----------------------------------------------------------------------------


def train_and_evaluate(
    history: MarketHistory,
    *,
    created: datetime | None = None,
    generated_data: bool = False,
    stride_hours: int = 6,
    monte_carlo_positions: int = 300,
) -> TrainingResult:
    """Fit both models on the time-ordered training split and evaluate them on the hold-out."""
    created = created or datetime.now(UTC)
    if not history.prices:
        raise HistoryUnavailable("no price history: the risk model needs prices/*.csv or asset_prices rows")
    if not history.rates:
        raise HistoryUnavailable("no market rate history: the APY model needs rates/*.csv or market_rates rows")
    first, last = history.window()

    # Risk: correlations from the training window only; vols are trailing per sample.
    all_risk = risk_samples(
        history, estimate_market_params(history.prices, window_hours=10**6), stride_hours=stride_hours
    )
    _, risk_test_start = time_cutoffs(all_risk.hour)
    train_market = estimate_market_params(history.prices, end_hour=risk_test_start, window_hours=10**6)
    samples = risk_samples(history, train_market, stride_hours=stride_hours)
    train_mask = samples.hour + samples.horizon < risk_test_start
    test_mask = samples.hour >= risk_test_start
    if train_mask.sum() < MIN_RISK_SAMPLES or test_mask.sum() < 20:
        raise HistoryUnavailable(f"too little price history for the risk model ({len(samples)} samples)")
    coef, intercept = fit_risk(samples.take(train_mask))
    serving_market = estimate_market_params(history.prices)  # the newest 30 days, for serving
    probe = RiskModel("evaluation", coef, intercept, serving_market)
    risk_report = evaluate_risk(samples.take(test_mask), probe, monte_carlo_positions=monte_carlo_positions)
    risk_report["split"] = {
        "test_start": _hour_iso(risk_test_start).isoformat(),
        "train_samples": int(train_mask.sum()),
    }

    # APY: one head per (side, horizon).
    heads: dict[str, ApyHead] = {}
    apy_report: dict[str, Any] = {}
    apy_train_samples = 0
    for side in APY_SIDES:
        for horizon in APY_HORIZONS:
            data = apy_samples(history, side, horizon)
            calib_start, test_start = time_cutoffs(data.hour)
            train = data.take(data.hour + horizon < calib_start)
            calibration = data.take((data.hour >= calib_start) & (data.hour + horizon < test_start))
            test = data.take(data.hour >= test_start)
            if len(train) < MIN_APY_SAMPLES or len(test) < 20:
                raise HistoryUnavailable(
                    f"too little {side} rate history for the {horizon} h APY model ({len(data)} samples)"
                )
            head = fit_apy_head(train, calibration)
            heads[head_key(side, horizon)] = head
            apy_train_samples += len(train)
            block = evaluate_apy_head(test, head, horizon)
            block["split"] = {"test_start": _hour_iso(test_start).isoformat(), "train_samples": len(train)}
            apy_report[head_key(side, horizon)] = block

    window = DataWindow(start=_hour_iso(first), end=_hour_iso(last))
    price_window = DataWindow(start=_hour_iso(history.window("prices")[0]), end=_hour_iso(history.window("prices")[1]))
    rate_window = DataWindow(start=_hour_iso(history.window("rates")[0]), end=_hour_iso(history.window("rates")[1]))
    source_note = "generated scenarios" if generated_data else history.source
    risk_model = RiskModel("pending", coef, intercept, serving_market)
    params = risk_params(risk_model)
    risk_version = _version(created, repr(params))
    risk_card = ModelCard(
        kind="risk",
        version=risk_version,
        created_at=created,
        data_source=source_note,
        data_window=price_window,
        generated_data=generated_data,
        features=list(RISK_FEATURES),
        training_samples=int(train_mask.sum()),
        metrics=_finite(risk_report),
        notes=[
            "Synthetic positions (HF 1.005-2.0, single/pair/cross shapes) opened on real hourly price paths; "
            "label = realised HF < 1 at any hour within the horizon.",
            "Monotone by construction: coef_z <= 0 and coef_logit_reference >= 0.",
            "Serving volatility/correlation table: the last 30 days of the data window.",
        ],
    )
    apy_model = ApyModel("pending", heads)
    a_params = apy_params(apy_model)
    apy_version = _version(created, repr(a_params))
    not_beating = [k for k, v in apy_report.items() if not v["beats_persistence"]]
    roll_better = [
        k
        for k, v in apy_report.items()
        if next(b["mae_pp"] for name, b in v.items() if name.startswith("rolling_mean")) < v["model"]["mae_pp"]
    ]
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
            "Target: mean APY over the next H hours; forecast = last value + ridge-predicted change.",
            f"'fall' = mean APY over the horizon more than {int(FALL_FRACTION * 100)} % below the current APY.",
            ("The rolling mean beats the model (MAE) for: " + ", ".join(roll_better))
            if roll_better
            else "Beats the rolling mean (MAE) on every head.",
            ("Does NOT beat persistence (MAE) for: " + ", ".join(not_beating))
            if not_beating
            else "Beats persistence (MAE) on every head.",
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


def approve(artifact: Artifact) -> bool:
    """The approval gates (see the module docstring)."""
    m = artifact.card.metrics
    if artifact.kind == "risk":
        block = m.get("all", {})
        model, ref = block.get("model", {}).get("brier"), block.get("closed_form_reference", {}).get("brier")
        return model is not None and ref is not None and model <= ref
    coverage = [v.get("interval_coverage") for v in m.values() if isinstance(v, dict)]
    return bool(coverage) and all(c is not None and 0.65 <= c <= 0.95 for c in coverage)


def run_training(
    history: MarketHistory,
    store: Any,
    database: Any | None = None,
    *,
    created: datetime | None = None,
    generated_data: bool = False,
    approve_all: bool = False,
    monte_carlo_positions: int = 300,
) -> TrainingResult:
    """Train, evaluate, publish both artifacts to `store` and record them in `model_artifacts`."""
    from risk.store import publish, record

    result = train_and_evaluate(
        history, created=created, generated_data=generated_data, monte_carlo_positions=monte_carlo_positions
    )
    for artifact in (result.risk, result.apy):
        uri = publish(store, artifact)
        approved = approve_all or approve(artifact)
        result.report.setdefault("published", []).append(
            {"kind": artifact.kind, "version": artifact.card.version, "uri": uri, "approved": approved}
        )
        if database is not None:
            record(database, artifact, uri, approved=approved)
    return result
