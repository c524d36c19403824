"""The APY model: a linear forecast of the change in mean APY over the horizon, plus a
calibrated interval and a "likely to fall" classifier, evaluated with numpy only.

Features at hour t, from the hourly APY series y (fraction per year) and utilisation u:
the last value, its 1 h / 24 h / 168 h changes, the 24 h and 168 h rolling means and standard
deviations, the gap between the last value and the 168 h mean, the utilisation and its 24 h
change. The target is mean(y[t+1 .. t+H]) − y[t]; the forecast is y[t] + prediction, never
below zero.

Level normalisation: APY moves grow with the APY's level, so the APY-valued features and the
target are divided by s = √max(y[t], 0.25 %) before the (pooled, all-markets) ridge regression,
and the interval is the point plus residual quantiles × s fitted on a calibration split: a
0.05 % market gets a narrow interval, a 12 % one a wide one. (Absolute features, and intervals
scaled by the 168 h standard deviation, were tried first: worse MAE, and intervals wider yet
covering only 70 %.)

Quiet-market gate: when the 168 h standard deviation is below `gate_cv` × the current APY the
forecast is the current value (persistence). A pooled model carries stablecoin dynamics into
quiet markets (WETH/WBTC supply) where persistence is hard to beat; the gate is chosen on the
calibration split. "Fall" means the mean APY over the horizon is more than `FALL_FRACTION` below
the current APY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.errors import UnknownMarket
from tidewatch.forecast.history import align, to_hourly
from tidewatch.forecast.payloads import ApyForecast, ApyForecastRequest, RatePoint

APY_FEATURES: tuple[str, ...] = (
    "last",
    "change_1h",
    "change_24h",
    "change_168h",
    "mean_24h",
    "mean_168h",
    "std_24h",
    "std_168h",
    "gap_to_mean_168h",
    "utilization",
    "utilization_change_24h",
)
LOOKBACK_HOURS = 168
MIN_HISTORY_HOURS = 24
FALL_FRACTION = 0.20
SCALE_FLOOR = 0.0025  # 0.25 % APY: intervals never collapse on a near-zero series
#: Recorded in artifacts so that a change of normalisation is never misread.
SCHEME = "sqrt-level-normalised/v2"
LEVEL_FEATURES = 9  # the first nine features are APY-valued and get divided by s


def _rolling(values: NDArray[np.float64], window: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Trailing mean and std over `window` points (ending at each index, inclusive)."""
    c1 = np.concatenate([[0.0], np.cumsum(values)])
    c2 = np.concatenate([[0.0], np.cumsum(values * values)])
    idx = np.arange(values.size)
    lo = np.maximum(idx + 1 - window, 0)
    count = idx + 1 - lo
    mean = (c1[idx + 1] - c1[lo]) / count
    var = np.maximum((c2[idx + 1] - c2[lo]) / count - mean * mean, 0.0)
    return mean, np.sqrt(var)


def _lag(values: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    idx = np.maximum(np.arange(values.size) - k, 0)
    return values[idx]


def apy_feature_matrix(apy: NDArray[np.float64], utilization: NDArray[np.float64]) -> NDArray[np.float64]:
    """Features at every hour of a gap-free series (rows before 168 h use what exists)."""
    y = np.asarray(apy, dtype=np.float64)
    u = np.asarray(utilization, dtype=np.float64)
    mean24, std24 = _rolling(y, 24)
    mean168, std168 = _rolling(y, LOOKBACK_HOURS)
    return np.column_stack(
        [
            y,
            y - _lag(y, 1),
            y - _lag(y, 24),
            y - _lag(y, 168),
            mean24,
            mean168,
            std24,
            std168,
            y - mean168,
            u,
            u - _lag(u, 24),
        ]
    )


def interval_scale(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """s = √max(current APY, floor): the unit of the normalised target and of the interval."""
    return np.sqrt(np.maximum(features[:, 0], SCALE_FLOOR))


def normalised(features: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(features with the APY-valued columns divided by s, s)."""
    s = interval_scale(features)
    out = features.copy()
    out[:, :LEVEL_FEATURES] /= s[:, None]
    return out, s


def quiet(features: NDArray[np.float64], gate_cv: float) -> NDArray[np.bool_]:
    """Markets whose 168 h standard deviation is below `gate_cv` × their current APY."""
    return features[:, APY_FEATURES.index("std_168h")] < gate_cv * np.maximum(features[:, 0], 1e-6)


@dataclass(frozen=True)
class ApyHead:
    """The fitted model of one (side, horizon)."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: float
    residual_low: float  # quantiles of residual / interval_scale on the calibration split
    residual_high: float
    interval_level: float
    fall_coef: NDArray[np.float64]
    fall_intercept: float
    gate_cv: float = 0.0

    def predict(self, features: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """Point, lower, upper (fractions per year) and fall probability for each row."""
        scaled, spread = normalised(features)
        x = (scaled - self.mean) / self.scale
        last = features[:, 0]
        change = np.where(quiet(features, self.gate_cv), 0.0, spread * (x @ self.coef + self.intercept))
        point = np.maximum(last + change, 0.0)
        lower = np.maximum(point + self.residual_low * spread, 0.0)
        upper = np.maximum(point + self.residual_high * spread, lower)
        fall = 0.5 * (1.0 + np.tanh(0.5 * (x @ self.fall_coef + self.fall_intercept)))
        return point, lower, upper, fall

    def to_json(self) -> dict[str, object]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "residual_low": self.residual_low,
            "residual_high": self.residual_high,
            "interval_level": self.interval_level,
            "fall_coef": self.fall_coef.tolist(),
            "fall_intercept": self.fall_intercept,
            "gate_cv": self.gate_cv,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ApyHead:
        def arr(key: str) -> NDArray[np.float64]:
            values = np.asarray(data[key], dtype=np.float64)
            if values.shape != (len(APY_FEATURES),):
                raise ValueError(f"{key}: expected {len(APY_FEATURES)} values")
            return values

        return cls(
            mean=arr("mean"),
            scale=arr("scale"),
            coef=arr("coef"),
            intercept=float(data["intercept"]),  # type: ignore[arg-type]
            residual_low=float(data["residual_low"]),  # type: ignore[arg-type]
            residual_high=float(data["residual_high"]),  # type: ignore[arg-type]
            interval_level=float(data["interval_level"]),  # type: ignore[arg-type]
            fall_coef=arr("fall_coef"),
            fall_intercept=float(data["fall_intercept"]),  # type: ignore[arg-type]
            gate_cv=float(data["gate_cv"]),  # type: ignore[arg-type]
        )


def head_key(side: str, horizon_hours: int) -> str:
    return f"{side}:{horizon_hours}"


@dataclass(frozen=True)
class ApyModel:
    version: str
    heads: Mapping[str, ApyHead]

    def head(self, side: str, horizon_hours: int) -> ApyHead:
        return self.heads[head_key(side, horizon_hours)]


def series_from_points(points: Sequence[RatePoint], side: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The last `LOOKBACK_HOURS + 1` hours of APY and utilisation on an hourly grid.

    Gaps are carried forward (utilisation defaults to its last known value, or 0 when never
    given); fewer than `MIN_HISTORY_HOURS` hours of history is refused.
    """
    seconds = [p.observed_at.timestamp() for p in points]
    values = [np.nan if (v := getattr(p, f"{side}_apy")) is None else v for p in points]
    util = [np.nan if p.utilization is None else p.utilization for p in points]
    apy_series = to_hourly(seconds, values)
    if apy_series.values.size < MIN_HISTORY_HOURS:
        raise UnknownMarket(
            f"need at least {MIN_HISTORY_HOURS} hours of {side} APY history, got {int(apy_series.values.size)}"
        )
    y = _carry_forward(apy_series.values)
    u = align(to_hourly(seconds, util), apy_series.start_hour, apy_series.end_hour)
    u = np.nan_to_num(_carry_forward(u), nan=0.0)
    return y[-(LOOKBACK_HOURS + 1) :], u[-(LOOKBACK_HOURS + 1) :]


def _carry_forward(values: NDArray[np.float64]) -> NDArray[np.float64]:
    finite = np.isfinite(values)
    idx = np.where(finite, np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return values[idx]


def forecast_apy(
    requests: Sequence[ApyForecastRequest],
    model: ApyModel,
    histories: Mapping[int, Sequence[RatePoint]] | None = None,
) -> list[ApyForecast]:
    """Forecast each request; `histories` supplies stored history for requests by `market_id`."""
    grouped: dict[str, list[int]] = {}
    rows: list[NDArray[np.float64]] = []
    for i, request in enumerate(requests):
        points = request.history or (histories or {}).get(request.market_id or -1, [])
        y, u = series_from_points(points, request.side)
        rows.append(apy_feature_matrix(y, u)[-1])
        grouped.setdefault(head_key(request.side, request.horizon_hours), []).append(i)
    features = np.vstack(rows)
    out: list[ApyForecast | None] = [None] * len(requests)
    for key, indices in grouped.items():
        head = model.heads[key]
        point, lower, upper, fall = head.predict(features[indices])
        for j, i in enumerate(indices):
            request = requests[i]
            out[i] = ApyForecast(
                market_id=request.market_id,
                side=request.side,
                horizon_hours=request.horizon_hours,
                current_apy=float(features[i, 0]),
                predicted_apy=float(point[j]),
                lower=float(lower[j]),
                upper=float(upper[j]),
                interval_level=head.interval_level,
                fall_probability=float(fall[j]),
                label="fall" if fall[j] >= 0.5 else "stay",
                model_version=model.version,
            )
    return [f for f in out if f is not None]
