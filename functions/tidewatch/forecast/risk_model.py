"""The fast liquidation-risk model: a monotone calibration map of the first-passage reference.

The reference q is the closed-form probability that a zero-drift GBM price path with the
position's σ of ln HF crosses the liquidation barrier within the horizon (exact for one volatile
asset against stable debt, a one-factor approximation otherwise). Real hourly returns are
fat-tailed and monitored hourly, so q is wrong in a systematic way: too low far from
liquidation, too high near it. The model is

    P = m_T(q)

with m_T a monotone non-decreasing map fitted on realised outcomes by isotonic regression in
logit(q), one per training horizon and interpolated in ln T between them (clamped outside).
Between the fitted knots m is linear in logit(q); below the lowest knot it falls in proportion
to q (to 0 as q → 0); above the highest knot it rises linearly in q to m(1) = 1. Hence:

* **no saturation**: HF → 1 gives q → 1 and P → 1 at any horizon; HF → ∞ or σ → 0 gives P → 0;
* **monotone**: q falls with HF and rises with σ, and m is non-decreasing, so higher HF never
  raises risk and higher volatility never lowers it;
* **fat tails explicitly**: the map is the empirical tail of the realised outcomes against the
  Gaussian reference, not a squashing of it.

Inference is `np.interp` on at most a few hundred knots per horizon.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tidewatch.forecast.bands import BANDS, band_indices
from tidewatch.forecast.market import MarketParams
from tidewatch.forecast.payloads import RiskBand, RiskForecast, RiskRequest
from tidewatch.forecast.position import LOWER, Barrier, Exposure, exposure_of
from tidewatch.forecast.reference import first_passage_lower, first_passage_upper

RISK_FEATURES: tuple[str, ...] = ("logit_reference", "log_horizon")
SCHEME = "isotonic-logit-reference/v1"
LOGIT_CLIP = 30.0
_EPS = 1e-13


def sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def reference_probability(health_factor: ArrayLike, sigma: ArrayLike, horizon_hours: ArrayLike) -> NDArray[np.float64]:
    """The one-factor closed form for HF ≥ 1 and σ ≥ 0 (0 at σ = 0, 1 at HF = 1)."""
    hf = np.asarray(health_factor, dtype=np.float64)
    sig = np.maximum(np.asarray(sigma, dtype=np.float64), 0.0)
    return first_passage_lower(1.0 / np.maximum(hf, 1.0), sig, np.asarray(horizon_hours, dtype=np.float64))


@dataclass(frozen=True)
class CalibrationMap:
    """Knots (logit q, P) of a monotone map, both coordinates non-decreasing."""

    x: NDArray[np.float64]
    p: NDArray[np.float64]

    def __call__(self, q: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.clip(logit(q), -LOGIT_CLIP, LOGIT_CLIP)
        out = np.interp(x, self.x, self.p)
        q_low, q_high = float(sigmoid(self.x[:1])[0]), float(sigmoid(self.x[-1:])[0])
        below = self.p[0] * q / q_low
        above = self.p[-1] + (1.0 - self.p[-1]) * (q - q_high) / max(1.0 - q_high, _EPS)
        out = np.where(x < self.x[0], below, out)
        out = np.where(x > self.x[-1], above, out)
        return np.clip(out, 0.0, 1.0)

    def to_json(self) -> dict[str, list[float]]:
        return {"x": [round(v, 6) for v in self.x.tolist()], "p": [round(v, 7) for v in self.p.tolist()]}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> CalibrationMap:
        x, p = np.asarray(data["x"], dtype=np.float64), np.asarray(data["p"], dtype=np.float64)
        if x.ndim != 1 or x.size < 1 or x.shape != p.shape:
            raise ValueError("calibration knots must be two equal, non-empty lists")
        if np.any(np.diff(x) < 0) or np.any(np.diff(p) < 0) or p.min() < 0 or p.max() > 1:
            raise ValueError("calibration knots must be non-decreasing, probabilities in [0, 1]")
        return cls(x, p)

    @classmethod
    def identity(cls) -> CalibrationMap:
        x = np.linspace(-LOGIT_CLIP, LOGIT_CLIP, 121, dtype=np.float64)
        return cls(x, 0.5 * (1.0 + np.tanh(0.5 * x)))


@dataclass(frozen=True)
class RiskModel:
    version: str
    horizons: tuple[float, ...]  # hours, ascending; one map each
    maps: tuple[CalibrationMap, ...]
    market: MarketParams

    def calibrated(self, reference: NDArray[np.float64], horizon_hours: NDArray[np.float64]) -> NDArray[np.float64]:
        """m_T(q): each horizon's map, linearly interpolated in ln T between training horizons."""
        if len(self.maps) == 1:
            return self.maps[0](reference)
        logs = np.log(np.asarray(self.horizons))
        position = np.interp(np.log(np.maximum(horizon_hours, 1.0)), logs, np.arange(logs.size, dtype=np.float64))
        out = np.zeros_like(reference)
        for k, m in enumerate(self.maps):
            weight = np.clip(1.0 - np.abs(position - k), 0.0, 1.0)
            if weight.any():
                out += weight * m(reference)
        return out

    def probability(self, health_factor: ArrayLike, sigma: ArrayLike, horizon_hours: ArrayLike) -> NDArray[np.float64]:
        """Vectorised P(HF < 1 within the horizon); HF < 1 → 1, σ = 0 or HF = ∞ → 0."""
        hf = np.asarray(health_factor, dtype=np.float64)
        sig = np.asarray(sigma, dtype=np.float64)
        hours = np.broadcast_to(np.asarray(horizon_hours, dtype=np.float64), hf.shape)
        finite_hf = np.where(np.isfinite(hf), hf, 1e9)
        p = self.calibrated(reference_probability(finite_hf, sig, hours), hours)
        p = np.where((sig <= 0) | ~np.isfinite(hf), 0.0, p)
        return np.where(hf < 1.0, 1.0, p)


#: Served probabilities are rounded to 1e-6: far below what the model resolves (its reliability
#: is checked to ±5 points), and six decimals print in a fraction of the time of seventeen digits
#: in the JSON response.
PROBABILITY_DECIMALS = 6


def served_probability(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """`p` rounded to PROBABILITY_DECIMALS (NaN stays NaN); rounding keeps the order of `p`."""
    return np.round(p, PROBABILITY_DECIMALS)


@dataclass(frozen=True)
class ScoreColumns:
    """Per-position results of a batch as plain Python lists (JSON-ready)."""

    health_factor: list[float | None]  # None when there is no debt
    probability: list[float]
    reference: list[float | None]
    distance: list[float]
    band: list[RiskBand]


def score_exposures(
    exposures: Sequence[Exposure],
    horizons: Sequence[int],
    overrides: Sequence[Mapping[str, float] | None],
    model: RiskModel,
) -> ScoreColumns:
    """Score folded positions: per-position bookkeeping in Python, the maths batched in numpy."""
    n = len(exposures)
    hf = np.empty(n)
    sigma = np.empty(n)
    distance = np.empty(n)
    hours = np.asarray(horizons, dtype=np.float64)
    references: list[float | None] = [None] * n
    lower: list[tuple[int, float, float]] = []
    upper: list[tuple[int, float, float]] = []
    market = model.market
    for i, exposure in enumerate(exposures):
        volatility = overrides[i]
        hf[i] = exposure.health_factor
        sigma[i] = exposure.log_hf_sigma(market, volatility)
        distance[i] = exposure.distance_to_liquidation
        case = exposure.barrier(market, volatility)
        if isinstance(case, Barrier):
            (lower if case.direction == LOWER else upper).append((i, case.level, case.sigma))
        else:
            references[i] = case
    for cases, passage in ((lower, first_passage_lower), (upper, first_passage_upper)):
        if cases:
            index, level, sig = (np.asarray(column) for column in zip(*cases, strict=True))
            passed = served_probability(passage(level, sig, hours[index]))
            for i, p in zip(index.tolist(), passed.tolist(), strict=True):
                references[i] = p
    probability = model.probability(hf, sigma, hours)
    bands = band_indices(probability, distance)
    return ScoreColumns(
        health_factor=[None if math.isinf(h) else h for h in hf.tolist()],
        probability=served_probability(probability).tolist(),
        reference=references,
        distance=distance.tolist(),
        band=[BANDS[b] for b in bands.tolist()],
    )


def score_positions(requests: Sequence[RiskRequest], model: RiskModel) -> list[RiskForecast]:
    """Score many validated positions in one call."""
    columns = score_exposures(
        [exposure_of(r, model.market) for r in requests],
        [r.horizon_hours for r in requests],
        [r.volatility for r in requests],
        model,
    )
    # model_construct: every field is computed here from validated inputs, so validation is skipped.
    return [
        RiskForecast.model_construct(
            position_id=request.position_id,
            horizon_hours=request.horizon_hours,
            health_factor=columns.health_factor[i],
            probability=columns.probability[i],
            reference_probability=columns.reference[i],
            distance_to_liquidation=columns.distance[i],
            band=columns.band[i],
            model_version=model.version,
        )
        for i, request in enumerate(requests)
    ]
