"""The fast liquidation-risk model: a logistic calibration of the first-passage reference.

Features of a position (all derived from ln HF, σ of ln HF and the horizon T in years):

* `z = ln HF / (σ√T)`: the number of standard deviations to liquidation;
* `logit_reference`: logit of the closed-form first-passage probability for that z (exact for
  one volatile asset against stable debt, a one-factor approximation otherwise);
* `log_horizon`: ln T in hours.

The model is `P = sigmoid(intercept + coef · features)` with coefficient signs constrained in
training (coef_z ≤ 0, coef_logit_reference ≥ 0), which makes it provably monotone: higher HF →
lower probability, higher volatility → higher probability. Inference is a few numpy array
operations; the coefficients come from a JSON artifact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tidewatch.forecast.bands import BANDS, band_indices
from tidewatch.forecast.market import MarketParams
from tidewatch.forecast.payloads import RiskForecast, RiskRequest
from tidewatch.forecast.position import LOWER, Barrier, exposure_of
from tidewatch.forecast.reference import first_passage_lower, first_passage_upper

RISK_FEATURES: tuple[str, ...] = ("z", "logit_reference", "log_horizon")
MAX_Z = 40.0
_EPS = 1e-12


def sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def risk_features(health_factor: ArrayLike, sigma: ArrayLike, horizon_hours: ArrayLike) -> NDArray[np.float64]:
    """Feature matrix (n × 3) for positions with HF ≥ 1 and σ > 0."""
    hf = np.asarray(health_factor, dtype=np.float64)
    sig = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-9)
    hours = np.asarray(horizon_hours, dtype=np.float64)
    log_hf = np.log(np.maximum(hf, 1.0))
    z = np.minimum(log_hf / (sig * np.sqrt(hours / 8766.0)), MAX_Z)
    reference = first_passage_lower(1.0 / np.maximum(hf, 1.0), sig, hours)
    return np.column_stack([z, logit(reference), np.log(hours)])


@dataclass(frozen=True)
class RiskModel:
    version: str
    coef: NDArray[np.float64]
    intercept: float
    market: MarketParams

    def probability(self, health_factor: ArrayLike, sigma: ArrayLike, horizon_hours: ArrayLike) -> NDArray[np.float64]:
        """Vectorised P(HF < 1 within the horizon); HF < 1 → 1, σ = 0 or HF = ∞ → 0."""
        hf = np.asarray(health_factor, dtype=np.float64)
        sig = np.asarray(sigma, dtype=np.float64)
        finite_hf = np.where(np.isfinite(hf), hf, 1e9)
        p = sigmoid(risk_features(finite_hf, sig, horizon_hours) @ self.coef + self.intercept)
        p = np.where((sig <= 0) | ~np.isfinite(hf), 0.0, p)
        return np.where(hf < 1.0, 1.0, p)


def score_positions(requests: Sequence[RiskRequest], model: RiskModel) -> list[RiskForecast]:
    """Score many positions in one call: per-position bookkeeping in Python, maths batched in numpy."""
    n = len(requests)
    hf = np.empty(n)
    sigma = np.empty(n)
    distance = np.empty(n)
    hours = np.empty(n)
    references: list[float | None] = [None] * n
    lower: list[tuple[int, float, float]] = []
    upper: list[tuple[int, float, float]] = []
    for i, request in enumerate(requests):
        exposure = exposure_of(request, model.market)
        hf[i] = exposure.health_factor
        sigma[i] = exposure.log_hf_sigma(model.market, request.volatility)
        distance[i] = exposure.distance_to_liquidation
        hours[i] = request.horizon_hours
        case = exposure.barrier(model.market, request.volatility)
        if isinstance(case, Barrier):
            (lower if case.direction == LOWER else upper).append((i, case.level, case.sigma))
        else:
            references[i] = case
    for cases, passage in ((lower, first_passage_lower), (upper, first_passage_upper)):
        if cases:
            index, level, sig = (np.asarray(column) for column in zip(*cases, strict=True))
            for i, p in zip(index.tolist(), passage(level, sig, hours[index]).tolist(), strict=True):
                references[i] = p
    probability = model.probability(hf, sigma, hours)
    bands = band_indices(probability, distance)
    hf_out = [None if math.isinf(h) else h for h in hf.tolist()]
    p_out, d_out, b_out = probability.tolist(), distance.tolist(), bands.tolist()
    # model_construct: every field is computed here from validated inputs, so validation is skipped.
    return [
        RiskForecast.model_construct(
            position_id=request.position_id,
            horizon_hours=request.horizon_hours,
            health_factor=hf_out[i],
            probability=p_out[i],
            reference_probability=references[i],
            distance_to_liquidation=d_out[i],
            band=BANDS[b_out[i]],
            model_version=model.version,
        )
        for i, request in enumerate(requests)
    ]
