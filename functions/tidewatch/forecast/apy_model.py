"""The APY model: a median forecast of the change in mean APY over the horizon, a split-conformal
interval and a "likely to fall" probability, evaluated with numpy only.

Features at hour t, from the hourly APY series y (fraction per year), utilisation u and total
deposits (TVL) v: the last value, its 1 h / 24 h / 168 h changes, 24 h / 168 h rolling means and
standard deviations, the gaps to both means; utilisation, its 1 h and 24 h changes, its distance
to the rate model's kink (the optimal utilisation, where the slope of the rate curve jumps) and
how far above the kink it is; the 24 h and 168 h log change of deposits (TVL flows); the hours
since the last large move (|1 h change| above 10 % of the level and 0.1 pp), and ln of the level.

Target and point: the change mean(y[t+1 .. t+H]) − a[t] from the head's anchor a (the current
value y[t], or for a head anchored at it the 168 h mean), divided by s = √max(y[t], 0.25 %) so
that a 9 % stablecoin market and a 0.05 % WBTC market share one model. The point model is a
gradient-boosted tree ensemble fitted to absolute error (the median: the forecast users read as
"what will I earn"), weighted by s so that the fit minimises the error in APY points. Two
baselines are the fallbacks: for the markets where the walk-forward evaluation found that the
model does not beat persistence (the current value) the head lists the market in
`persistence_markets`, and where the rolling mean of the last H hours beats the served forecast
on both MAE and RMSE in `rolling_mean_markets`; such a market is served that baseline, and the
response says so.

Interval: point + split-conformal quantiles of residual / w, w = 0.05 · s + the 24 h standard
deviation of y, taken from the market's own recent residuals: the served forecasts the head
would have made every `RECENT_STRIDE_HOURS` whose horizon ended in the last
`RECENT_WINDOW_HOURS` (their outcome is in the history), so the interval follows a market whose
rates turn calm or volatile. With too few of them (a short history) the head's pooled quantiles,
fitted on the weeks before the training cut, apply. The 7-day heads use adaptive conformal
inference (Gibbs & Candès 2021) instead: the miss level α starts at the nominal 1 − level and is
replayed over the forecasts of the last `ACI_WINDOW_HOURS` whose 7-day outcome is known
(α ← α + γ (nominal − miss) once each outcome is in), and the interval takes the head's
calibration-score quantiles at α / 2 and 1 − α / 2 (`score_quantiles`). "Fall" means the mean APY over the horizon is more than `FALL_FRACTION` below the current
APY; its probability is a boosted-tree classifier (log-loss) on the same features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import cast

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.errors import UnknownMarket
from tidewatch.forecast.history import HourlySeries, align, to_hourly_many
from tidewatch.forecast.payloads import ApyForecast, ApyForecastRequest, ApyMethod, RateHistoryColumns, RateObservation
from tidewatch.forecast.trees import TreeEnsemble

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
    "gap_to_mean_24h",
    "utilization",
    "utilization_change_1h",
    "utilization_change_24h",
    "kink_distance",
    "above_kink",
    "tvl_flow_24h",
    "tvl_flow_168h",
    "hours_since_large_move",
    "log_level",
)
LEVEL_FEATURES = 10  # the first ten features are APY-valued and get divided by s
LOOKBACK_HOURS = 168
MIN_HISTORY_HOURS = 24
FALL_FRACTION = 0.20
SCALE_FLOOR = 0.0025  # 0.25 % APY: intervals never collapse on a near-zero series
DEFAULT_KINK = 0.80  # optimal utilisation assumed for a market the artifact does not know
LARGE_MOVE_SHARE = 0.10
LARGE_MOVE_FLOOR = 0.001
#: The interval's recent-residual window: origins every RECENT_STRIDE_HOURS whose horizon ended
#: within the last RECENT_WINDOW_HOURS (the outcome is known by now); fewer than
#: MIN_RECENT_RESIDUALS of them → the head's pooled quantiles.
RECENT_WINDOW_HOURS = 336
RECENT_STRIDE_HOURS = 3
MIN_RECENT_RESIDUALS = 40
#: The window's residuals overlap (consecutive horizons share hours), so they count as fewer
#: independent draws than they are and the order statistic at the nominal level under-covers by
#: ≈3 points walk-forward; the quantiles are taken at the nominal level plus this margin.
RECENT_LEVEL_MARGIN = 0.03
#: Longer heads keep the pooled quantiles: two weeks hold only two non-overlapping 7-day
#: outcomes, and walk-forward their recent-window intervals covered less than the pooled ones.
RECENT_MAX_HORIZON_HOURS = 24
#: Longer heads: adaptive conformal inference over the outcomes that matured in the last
#: ACI_WINDOW_HOURS (origins every RECENT_STRIDE_HOURS), step ACI_GAMMA per outcome, α kept in
#: ACI_ALPHA_RANGE (α ≤ 0 would be an infinite interval). Six weeks and γ = 0.04 kept every
#: walk-forward fold of both 7-day heads within ±5 points (docs/models.md, D47).
ACI_WINDOW_HOURS = 1008
ACI_GAMMA = 0.04
ACI_ALPHA_RANGE = (0.01, 0.70)
#: Up to this many rows the adaptive replay runs origin by origin in plain floats (cheaper than a
#: vector step per block for one market; the same bits either way).
SCALAR_REPLAY_ROWS = 4
#: Rows a head remembers the point change of, per container (≈ 450 bytes each, ≈ 9 MB a head when
#: full; a market served every hour keeps 3 × its origins live: 339 rows at 24 h, 1,011 at 7 days).
REPLAY_CACHE_ROWS = 20_000
#: The calibration scores' quantiles are stored at these levels (interpolated in between).
SCORE_QUANTILE_LEVELS = np.linspace(0.0, 1.0, 201)
#: Recorded in artifacts so that a change of features or normalisation is never misread.
SCHEME = "median-trees-conformal/v3"


def _lag(values: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    idx = np.maximum(np.arange(values.size) - k, 0)
    return values[idx]


def _hours_since_large_move(y: NDArray[np.float64]) -> NDArray[np.float64]:
    step = np.abs(y - _lag(y, 1))
    large = step > np.maximum(LARGE_MOVE_SHARE * _lag(y, 1), LARGE_MOVE_FLOOR)
    idx = np.arange(y.size)
    last = np.where(large, idx, -LOOKBACK_HOURS)
    np.maximum.accumulate(last, out=last)
    return np.minimum(idx - last, LOOKBACK_HOURS).astype(np.float64)


def apy_feature_matrix(
    apy: NDArray[np.float64],
    utilization: NDArray[np.float64],
    deposits: NDArray[np.float64] | None = None,
    kink: float = DEFAULT_KINK,
) -> NDArray[np.float64]:
    """Features at every hour of a gap-free series (rows before 168 h use what exists).

    `deposits` (USD, NaN where unknown) drive the TVL-flow features; without them the flows are 0.
    """
    return apy_feature_rows(apy, utilization, deposits, kink, None)


def apy_feature_rows(
    apy: NDArray[np.float64],
    utilization: NDArray[np.float64],
    deposits: NDArray[np.float64] | None,
    kink: float,
    at: NDArray[np.intp] | None,
    *,
    window_sums: bool = False,
) -> NDArray[np.float64]:
    """`apy_feature_matrix(...)[at]` (every hour when `at` is None), computing only those rows.

    The rolling means and deviations come from running sums over the whole series (training's
    way, the same bits as the full matrix), or with `window_sums` from each row's own 24 / 168
    values (serving's way: the same to ≈1e-12 — the deviations are differences of sums, so
    their last digits are rounding either way — and a row then depends on its window alone, not on
    where the series starts, so an hour's row is the same bits from one forecast to the next and
    its remembered point change is found again when the read window has moved on). The hours
    since the last large move run over the whole series; every other column is taken at `at`."""
    y = np.asarray(apy, dtype=np.float64)
    u = np.asarray(utilization, dtype=np.float64)
    idx = np.arange(y.size) if at is None else np.asarray(at, dtype=np.intp)
    back_1, back_24, back_168 = (np.maximum(idx - k, 0) for k in (1, 24, LOOKBACK_HOURS))
    if window_sums:
        # One sum per row over y[lo : idx + 1] and y² likewise, for both windows in one reduceat
        # over the pairs (lo, idx + 1) (the sums between the pairs are dropped; a trailing 0
        # keeps idx + 1 a valid index).
        padded = np.append(y, 0.0)
        bounds = np.empty(4 * idx.size, dtype=np.intp)
        bounds[0 : 2 * idx.size : 2] = np.maximum(idx + 1 - 24, 0)
        bounds[2 * idx.size :: 2] = np.maximum(idx + 1 - LOOKBACK_HOURS, 0)
        bounds[1::2] = np.tile(idx + 1, 2)
        window = np.add.reduceat(np.vstack([padded, padded * padded]), bounds, axis=1)[:, 0::2]
        by_window = {24: window[:, : idx.size], LOOKBACK_HOURS: window[:, idx.size :]}

        def sums(width: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            return by_window[width][0], by_window[width][1]
    else:
        c1 = np.concatenate([[0.0], np.cumsum(y)])
        c2 = np.concatenate([[0.0], np.cumsum(y * y)])

        def sums(width: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            lo = np.maximum(idx + 1 - width, 0)
            return c1[idx + 1] - c1[lo], c2[idx + 1] - c2[lo]

    def rolling(width: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        count = np.minimum(idx + 1, width)
        first, second = sums(width)
        mean = first / count
        var = np.maximum(second / count - mean * mean, 0.0)
        return mean, np.sqrt(var)

    mean24, std24 = rolling(24)
    mean168, std168 = rolling(LOOKBACK_HOURS)
    if deposits is None:
        flow24 = flow168 = np.zeros(idx.size)
    else:
        v = np.asarray(deposits, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            now_v, v_24, v_168 = (np.log(np.maximum(v[i], 1.0)) for i in (idx, back_24, back_168))
        flow24 = np.clip(now_v - v_24, -2.0, 2.0)
        flow168 = np.clip(now_v - v_168, -2.0, 2.0)
        flow24[np.isnan(flow24)] = 0.0  # unknown deposits: no flow
        flow168[np.isnan(flow168)] = 0.0
    yi, ui = y[idx], u[idx]
    out = np.empty((idx.size, len(APY_FEATURES)))
    columns = (
        yi,
        yi - y[back_1],
        yi - y[back_24],
        yi - y[back_168],
        mean24,
        mean168,
        std24,
        std168,
        yi - mean168,
        yi - mean24,
        ui,
        ui - u[back_1],
        ui - u[back_24],
        ui - kink,
        np.maximum(ui - kink, 0.0),
        flow24,
        flow168,
        _hours_since_large_move(y)[idx],
        np.log(np.maximum(yi, 1e-4)),
    )
    for j, column in enumerate(columns):
        out[:, j] = column
    return out


def level_scale(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """s = √max(current APY, floor): the unit of the normalised target."""
    return np.sqrt(np.maximum(features[:, 0], SCALE_FLOOR))


def interval_width_unit(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """w = 0.05·s + the 24 h standard deviation: intervals widen in a moving market."""
    return 0.05 * level_scale(features) + features[:, APY_FEATURES.index("std_24h")]


def normalised(features: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(features with the APY-valued columns divided by s, s)."""
    s = level_scale(features)
    out = features.copy()
    out[:, :LEVEL_FEATURES] /= s[:, None]
    return out, s


def conformal_bounds(
    scores: NDArray[np.float64], level: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per row of `scores` (NaN = missing): the finite-sample split-conformal lower and upper
    order statistics for a central `level` interval, and how many scores the row has."""
    ordered = np.sort(scores, axis=1)  # NaN sort last
    n = np.isfinite(scores).sum(axis=1)
    alpha = (1.0 - level) / 2.0
    top = np.maximum(n - 1, 0)
    k_lo = np.clip(np.floor(alpha * (n + 1)).astype(np.int64) - 1, 0, top)
    k_hi = np.clip(np.ceil((1.0 - alpha) * (n + 1)).astype(np.int64) - 1, 0, top)
    rows = np.arange(scores.shape[0])
    return ordered[rows, k_lo], ordered[rows, k_hi], n


def recent_offsets(horizon_hours: int) -> NDArray[np.int64]:
    """Hours back from now of the origins whose residuals calibrate the interval (none for
    heads longer than RECENT_MAX_HORIZON_HOURS)."""
    window = ACI_WINDOW_HOURS if horizon_hours > RECENT_MAX_HORIZON_HOURS else RECENT_WINDOW_HOURS
    return horizon_hours + np.arange(0, window + 1, RECENT_STRIDE_HOURS, dtype=np.int64)


def adaptive_levels(
    scores: NDArray[np.float64], horizon_hours: int, nominal: float, quantiles: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Adaptive conformal inference replayed per row of `scores` (scaled residuals at
    `recent_offsets(horizon_hours)`, newest first, NaN = missing): the miss level α after every
    outcome known by now, α = nominal + γ · Σ (nominal − miss) over the outcomes seen.

    Each origin's interval used the α of the outcomes that had matured by its own time (origins
    `horizon_hours` older or more). An outcome misses at level α when it lies outside the central
    1 − α range of the calibration scores `quantiles`, i.e. when α > 2 · min(F, 1 − F) with F its
    rank among them. The replay runs in blocks of horizon / stride origins: no origin of a block
    has matured by the time of another one of it, so each block is one vector step; the sums are
    kept as counts so the result does not depend on the order of the additions."""
    ordered = scores[:, ::-1]
    lag = max(horizon_hours // RECENT_STRIDE_HOURS, 1)
    valid = np.isfinite(ordered)
    rank = np.interp(np.where(valid, ordered, 0.0), quantiles, SCORE_QUANTILE_LEVELS)
    critical = 2.0 * np.minimum(rank, 1.0 - rank)
    if ordered.shape[0] <= SCALAR_REPLAY_ROWS:
        return _replay_scalar(valid, critical, lag, nominal)
    return _replay_blocks(valid, critical, lag, nominal)


def _replay_blocks(
    valid: NDArray[np.bool_], critical: NDArray[np.float64], lag: int, nominal: float
) -> NDArray[np.float64]:
    """The replay of `adaptive_levels`, all rows at once, one vector step per block of `lag`."""
    rows, count = valid.shape
    # Running counts before each origin (index j: origins 0 .. j − 1), oldest first.
    seen = np.zeros((rows, count + 1), dtype=np.int64)
    missed = np.zeros((rows, count + 1), dtype=np.int64)
    for start in range(0, count, lag):
        stop = min(start + lag, count)
        known = np.maximum(np.arange(start, stop) - lag + 1, 0)  # outcomes matured by each origin
        alpha = np.clip(nominal + ACI_GAMMA * (nominal * seen[:, known] - missed[:, known]), *ACI_ALPHA_RANGE)
        miss = valid[:, start:stop] & (alpha > critical[:, start:stop])
        seen[:, start + 1 : stop + 1] = seen[:, start : start + 1] + np.cumsum(valid[:, start:stop], axis=1)
        missed[:, start + 1 : stop + 1] = missed[:, start : start + 1] + np.cumsum(miss, axis=1)
    total = nominal * seen[:, count] - missed[:, count]
    return np.asarray(np.clip(nominal + ACI_GAMMA * total, *ACI_ALPHA_RANGE))


def _replay_scalar(
    valid: NDArray[np.bool_], critical: NDArray[np.float64], lag: int, nominal: float
) -> NDArray[np.float64]:
    """The same replay row by row for a few rows (a single forecast): the first block, which no
    matured outcome reaches, as one vector step, then origin by origin in plain floats; the same
    operations on the same integer counts, so the same bits, without a vector call per block."""
    low, high = ACI_ALPHA_RANGE
    gamma = ACI_GAMMA
    first = min(max(nominal, low), high)  # α before any outcome is known (the counts are 0)
    out = []
    for valid_row, critical_row in zip(valid, critical, strict=True):
        # The outcomes seen before each origin do not depend on α: nominal · seen is one
        # vector product. The misses do, origin by origin; before origin `lag` no outcome has
        # matured, so the first block misses at the first α, as one vector step.
        seen = np.concatenate([[0], np.cumsum(valid_row)])
        expected = (nominal * seen).tolist()
        head = min(lag, valid_row.size)
        missed = np.concatenate([[0], np.cumsum(valid_row[:head] & (first > critical_row[:head]))]).tolist()
        m = missed[-1]
        for j, (known_outcome, critical_level) in enumerate(
            zip(valid_row[head:].tolist(), critical_row[head:].tolist(), strict=True), start=head
        ):
            k = j - lag + 1
            alpha = nominal + gamma * (expected[k] - missed[k])
            alpha = low if alpha < low else high if alpha > high else alpha
            if known_outcome:
                m += alpha > critical_level
            missed.append(m)
        out.append(min(max(nominal + gamma * (expected[-1] - m), low), high))
    return np.array(out, dtype=np.float64)


def history_hours(horizon_hours: int) -> int:
    """Hours of history a forecast uses: the features' lookback behind the oldest recent origin."""
    offsets = recent_offsets(horizon_hours)
    return LOOKBACK_HOURS + 1 + (int(offsets.max()) if offsets.size else 0)


#: Hours of stored history the forecasts of every head need.
APY_HISTORY_HOURS = max(history_hours(h) for h in (24, 168))


def future_means(y: NDArray[np.float64], horizon_hours: int) -> NDArray[np.float64]:
    """mean(y[i+1 .. i+H]) at every index (NaN where the window runs past the end)."""
    c = np.concatenate([[0.0], np.cumsum(y)])
    out = np.full(y.size, np.nan)
    if y.size > horizon_hours:
        i = np.arange(y.size - horizon_hours)
        out[: i.size] = (c[i + 1 + horizon_hours] - c[i + 1]) / horizon_hours
    return out


def rolling_mean_feature(horizon_hours: int) -> str:
    """The feature that is the mean APY of the last `horizon_hours` hours (the rolling-mean
    baseline of a head)."""
    names = {24: "mean_24h", LOOKBACK_HOURS: "mean_168h"}
    if horizon_hours not in names:
        raise ValueError(f"no rolling-mean feature for a {horizon_hours} h horizon")
    return names[horizon_hours]


def sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class ApyHead:
    """The fitted model of one (side, horizon)."""

    point: TreeEnsemble  # normalised change (÷ s) of the mean APY over the horizon
    fall: TreeEnsemble  # logit of P(fall)
    residual_low: float  # split-conformal quantiles of residual / w
    residual_high: float
    interval_level: float
    #: quantiles of the calibration scores at SCORE_QUANTILE_LEVELS (empty: pooled bounds only)
    score_quantiles: tuple[float, ...] = ()
    #: market key → why it is served persistence (the model did not beat it walk-forward)
    persistence_markets: Mapping[str, str] = field(default_factory=dict)
    #: the feature the point change is measured from: "last" (the current value) or a rolling
    #: mean ("mean_168h"); a change of zero is then that value
    anchor: str = "last"
    #: market key → why it is served the rolling mean of the last H hours (it beat the served
    #: forecast on MAE and RMSE walk-forward)
    rolling_mean_markets: Mapping[str, str] = field(default_factory=dict)
    #: the feature that is the rolling mean of the last H hours for this head's horizon
    rolling_mean_feature: str = "mean_168h"
    #: Point changes of feature rows already walked (the row's bytes → change): a market's replay
    #: origins recur from one forecast to the next (the same hours, the same features), so a warm
    #: function walks only the new ones. A change depends on the row and the trees alone, so a hit
    #: is the value a walk would give; the table is emptied past REPLAY_CACHE_ROWS rows.
    _changes: dict[bytes, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def anchor_values(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """The value the point change is added to, per row."""
        return features[:, APY_FEATURES.index(self.anchor)]

    def predict_change(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        scaled, s = normalised(features)
        return s * self.point.predict(scaled)

    def remembered_change(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """`predict_change(features)`, walking only the rows not seen before."""
        rows = np.ascontiguousarray(features, dtype=np.float64)
        keys = cast(list[bytes], rows.view(np.dtype((np.void, rows.shape[1] * rows.itemsize))).ravel().tolist())
        table = self._changes
        found: list[float | None] = list(map(table.get, keys))
        missing = [i for i, value in enumerate(found) if value is None]
        if not missing:
            return np.array(found, dtype=np.float64)
        if len(table) + len(missing) > REPLAY_CACHE_ROWS:
            table.clear()
        if len(missing) == len(keys):  # nothing seen before (a cold function): one walk, no merge
            change = self.predict_change(rows)
            table.update(zip(keys, change.tolist(), strict=True))
            return change
        fresh = self.predict_change(rows[missing]).tolist()
        for i, value in zip(missing, fresh, strict=True):
            table[keys[i]] = found[i] = value
        return np.array(found, dtype=np.float64)

    def forget_changes(self) -> None:
        """Empty the table of walked rows (benchmarks of a cold function)."""
        self._changes.clear()

    def _point(
        self,
        features: NDArray[np.float64],
        change: NDArray[np.float64],
        persistence: NDArray[np.bool_] | None,
        rolling_mean: NDArray[np.bool_] | None,
    ) -> NDArray[np.float64]:
        """anchor + change, the current value where `persistence` is set, the rolling mean of
        the last H hours where `rolling_mean` is set; never below 0."""
        point = self.anchor_values(features) + change
        if rolling_mean is not None:
            point = np.where(rolling_mean, features[:, APY_FEATURES.index(self.rolling_mean_feature)], point)
        if persistence is not None:
            point = np.where(persistence, features[:, 0], point)
        return np.maximum(point, 0.0)

    def served_point(
        self,
        features: NDArray[np.float64],
        persistence: NDArray[np.bool_] | None = None,
        *,
        rolling_mean: NDArray[np.bool_] | None = None,
        change: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """The point forecast (fraction per year); rows with `persistence` set get the current
        value, rows with `rolling_mean` set the rolling mean of the last H hours. `change`: the
        rows' point changes when already known (`remembered_change`)."""
        if change is None:
            change = self.predict_change(features)
        return self._point(features, change, persistence, rolling_mean)

    def predict(
        self,
        features: NDArray[np.float64],
        persistence: NDArray[np.bool_] | None = None,
        residual_bounds: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
        *,
        change: NDArray[np.float64] | None = None,
        rolling_mean: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.float64], ...]:
        """Point, lower, upper (fractions per year) and fall probability for each row; rows with
        `persistence` set get the current value as the point, rows with `rolling_mean` set the
        rolling mean of the last H hours (the interval stays conformal on the point served).
        `residual_bounds` are per-row conformal quantiles of residual / w (default: the head's
        pooled ones); `change` the rows' point changes when already known."""
        scaled, s = normalised(features)
        point = self._point(
            features, s * self.point.predict(scaled) if change is None else change, persistence, rolling_mean
        )
        w = interval_width_unit(features)
        low, high = residual_bounds if residual_bounds is not None else (self.residual_low, self.residual_high)
        lower = np.maximum(point + low * w, 0.0)
        upper = np.maximum(point + high * w, lower)
        fall = sigmoid(self.fall.predict(scaled))
        return point, lower, upper, fall

    def recent_bounds(
        self, scores: NDArray[np.float64], horizon_hours: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per row of recent scaled residuals (NaN = missing, at `recent_offsets(horizon_hours)`):
        for heads up to RECENT_MAX_HORIZON_HOURS the conformal quantiles of the window, or the
        pooled ones where a row has fewer than MIN_RECENT_RESIDUALS; for longer heads the
        calibration quantiles at the adaptive level (`adaptive_levels`)."""
        if horizon_hours > RECENT_MAX_HORIZON_HOURS:
            if len(self.score_quantiles) != SCORE_QUANTILE_LEVELS.size or scores.shape[1] == 0:
                return np.full(scores.shape[0], self.residual_low), np.full(scores.shape[0], self.residual_high)
            grid = np.asarray(self.score_quantiles)
            alpha = adaptive_levels(scores, horizon_hours, 1.0 - self.interval_level, grid)
            return (
                np.interp(alpha / 2.0, SCORE_QUANTILE_LEVELS, grid),
                np.interp(1.0 - alpha / 2.0, SCORE_QUANTILE_LEVELS, grid),
            )
        if scores.shape[1] == 0:
            return np.full(scores.shape[0], self.residual_low), np.full(scores.shape[0], self.residual_high)
        low, high, n = conformal_bounds(scores, min(self.interval_level + RECENT_LEVEL_MARGIN, 0.99))
        enough = n >= MIN_RECENT_RESIDUALS
        return np.where(enough, low, self.residual_low), np.where(enough, high, self.residual_high)

    def to_json(self) -> dict[str, object]:
        return {
            "point": self.point.to_json(),
            "fall": self.fall.to_json(),
            "residual_low": self.residual_low,
            "residual_high": self.residual_high,
            "interval_level": self.interval_level,
            "score_quantiles": list(self.score_quantiles),
            "persistence_markets": dict(self.persistence_markets),
            "anchor": self.anchor,
            "rolling_mean_markets": dict(self.rolling_mean_markets),
            "rolling_mean_feature": self.rolling_mean_feature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ApyHead:
        markets = data.get("persistence_markets") or {}
        rolling = data.get("rolling_mean_markets") or {}
        if not isinstance(markets, Mapping) or not isinstance(rolling, Mapping):
            raise ValueError("persistence_markets and rolling_mean_markets must be objects")
        anchor = str(data.get("anchor") or "last")
        rolling_feature = str(data.get("rolling_mean_feature") or "mean_168h")
        for name in (anchor, rolling_feature):
            if name not in APY_FEATURES:
                raise ValueError(f"unknown APY feature {name!r}")
        return cls(
            point=TreeEnsemble.from_json(data["point"]),  # type: ignore[arg-type]
            fall=TreeEnsemble.from_json(data["fall"]),  # type: ignore[arg-type]
            residual_low=float(data["residual_low"]),  # type: ignore[arg-type]
            residual_high=float(data["residual_high"]),  # type: ignore[arg-type]
            interval_level=float(data["interval_level"]),  # type: ignore[arg-type]
            score_quantiles=tuple(float(q) for q in data.get("score_quantiles") or ()),  # type: ignore[attr-defined]
            persistence_markets={str(k): str(v) for k, v in markets.items()},
            anchor=anchor,
            rolling_mean_markets={str(k): str(v) for k, v in rolling.items()},
            rolling_mean_feature=rolling_feature,
        )


def head_key(side: str, horizon_hours: int) -> str:
    return f"{side}:{horizon_hours}"


def market_key(protocol: str, chain_id: int | str, asset: str) -> str:
    """One market's name in artifacts: `protocol:chain:ASSET` (e.g. `aave-v3:1:USDC`)."""
    return f"{protocol.lower()}:{chain_id}:{asset.upper()}"


_CHAIN_IDS = {"ethereum": 1, "base": 8453}


def market_key_from_name(name: str) -> str:
    """The key of a shared-data file stem: `aave-v3-ethereum-USDC` → `aave-v3:1:USDC`,
    `compound-v3-ethereum-cUSDCv3-USDC` → `compound-v3:1:USDC`; other names pass unchanged."""
    parts = name.split("-")
    if len(parts) >= 4 and parts[2] in _CHAIN_IDS:
        return market_key(f"{parts[0]}-{parts[1]}", _CHAIN_IDS[parts[2]], parts[-1])
    return name


@dataclass(frozen=True)
class ApyModel:
    version: str
    heads: Mapping[str, ApyHead]
    #: market key → optimal utilisation (kink) estimated from the market's history
    kinks: Mapping[str, float] = field(default_factory=dict)

    def head(self, side: str, horizon_hours: int) -> ApyHead:
        return self.heads[head_key(side, horizon_hours)]

    def kink(self, market: str | None) -> float:
        return self.kinks.get(market or "", DEFAULT_KINK)


@dataclass(frozen=True)
class MarketSeries:
    """The last hours of one side of a market on an hourly grid."""

    apy: NDArray[np.float64]
    utilization: NDArray[np.float64]
    deposits: NDArray[np.float64]


@dataclass(frozen=True)
class RateColumns:
    """A market's stored readings as columns (oldest first; NaN = not given): what a forecast
    reads, without a Python object per reading (`repository.stored_rate_history`)."""

    seconds: NDArray[np.float64]  # unix seconds of each reading
    supply_apy: NDArray[np.float64]
    borrow_apy: NDArray[np.float64]
    utilization: NDArray[np.float64]
    deposits_usd: NDArray[np.float64]


_OBSERVED_AT = attrgetter("observed_at")
_READINGS = tuple(attrgetter(name) for name in ("supply_apy", "borrow_apy", "utilization", "deposits_usd"))


def columns_from_points(points: Sequence[RateObservation]) -> RateColumns:
    """The readings' columns (C-level maps; None becomes NaN in the float arrays)."""
    count = len(points)
    seconds = np.fromiter(map(datetime.timestamp, map(_OBSERVED_AT, points)), dtype=np.float64, count=count)
    supply, borrow, utilization, deposits = (np.array(list(map(g, points)), dtype=np.float64) for g in _READINGS)
    return RateColumns(seconds, supply, borrow, utilization, deposits)


def _floats(values: Sequence[float | None]) -> NDArray[np.float64]:
    """A list of floats as an array, None as NaN (numpy's float conversion of None, as in
    `columns_from_points`); `fromiter` reads a list faster than `np.array`."""
    return np.fromiter(values, dtype=np.float64, count=len(values))


def columns_from_lists(history: RateHistoryColumns) -> RateColumns:
    """A request's `history_columns` as arrays (null entries and left-out columns become NaN)."""
    seconds = _floats(history.observed_at)
    missing = np.full(seconds.size, np.nan)
    supply, borrow, utilization, deposits = (
        missing if values is None else _floats(values)
        for values in (history.supply_apy, history.borrow_apy, history.utilization, history.deposits_usd)
    )
    return RateColumns(seconds, supply, borrow, utilization, deposits)


def series_from_points(points: Sequence[RateObservation], side: str, hours: int = LOOKBACK_HOURS + 1) -> MarketSeries:
    """The last `hours` hours of APY, utilisation and deposits from rate points; gaps are carried forward
    (utilisation defaults to 0 when never given). No usable APY point at all is refused."""
    return series_from_columns(columns_from_points(points), side, hours)


def series_from_columns(columns: RateColumns, side: str, hours: int = LOOKBACK_HOURS + 1) -> MarketSeries:
    """`series_from_points` on readings already in columns."""
    apy = columns.supply_apy if side == "supply" else columns.borrow_apy
    apy_series, u_series, v_series = to_hourly_many(columns.seconds, (apy, columns.utilization, columns.deposits_usd))
    if apy_series.values.size == 0 or not np.isfinite(apy_series.values).any():
        raise UnknownMarket(f"no {side} APY history for this market")
    y = _carry_forward(apy_series.values)

    def side_series(series: HourlySeries, default: float) -> NDArray[np.float64]:
        aligned = _carry_forward(align(series, apy_series.start_hour, apy_series.end_hour))
        return aligned if np.isfinite(aligned).all() else np.nan_to_num(aligned, nan=default)

    u = side_series(u_series, 0.0)
    v = side_series(v_series, np.nan)
    return MarketSeries(y[-hours:], u[-hours:], v[-hours:])


def _recent_scores(
    head: ApyHead,
    origin_rows: Sequence[NDArray[np.float64]],
    origin_truth: Sequence[NDArray[np.float64]],
    persistence: NDArray[np.bool_],
    origin_change: NDArray[np.float64],
    rolling_mean: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Scaled residuals (truth − served point) / w of each request's recent origins, one row per
    request, NaN-padded, from the origins' point changes (all requests' origins in order).
    `persistence` / `rolling_mean`: the requests served that baseline (their residuals are the
    baseline's)."""
    counts = [r.shape[0] for r in origin_rows]
    width = max(counts, default=0)
    scores = np.full((len(origin_rows), max(width, 1)), np.nan)
    if width == 0:
        return scores
    stacked = np.vstack([r for r in origin_rows if r.shape[0]])
    flags = np.repeat(persistence, counts)
    rolling = None if rolling_mean is None else np.repeat(rolling_mean, counts)
    served = head.served_point(stacked, flags, rolling_mean=rolling, change=origin_change)
    residual = (np.concatenate(origin_truth) - served) / interval_width_unit(stacked)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for j, count in enumerate(counts):
        scores[j, :count] = residual[offsets[j] : offsets[j + 1]]
    return scores


def _carry_forward(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each NaN replaced by the last finite value before it (leading NaNs stay)."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    idx = np.where(finite, np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return values[idx]


def forecast_apy(
    requests: Sequence[ApyForecastRequest],
    model: ApyModel,
    histories: Mapping[int, Sequence[RateObservation] | RateColumns] | None = None,
    markets: Mapping[int, str] | None = None,
) -> list[ApyForecast]:
    """Forecast each request; `histories` supplies stored history for requests by `market_id`
    (readings or their columns),
    `markets` the market key of a stored market (for its kink and its fallback decision).

    A market with less than `MIN_HISTORY_HOURS` of history, or one the walk-forward evaluation
    found the model cannot beat persistence on, gets the current value with the reason; one where
    the rolling mean of the last H hours beat the model gets that mean with the reason.
    """
    grouped: dict[str, list[int]] = {}
    rows: list[NDArray[np.float64]] = []
    origin_rows: list[NDArray[np.float64]] = []
    origin_truth: list[NDArray[np.float64]] = []
    reasons: list[str | None] = []
    methods: list[ApyMethod] = []
    keys: list[str | None] = []
    for i, request in enumerate(requests):
        points = (
            columns_from_lists(request.history_columns)
            if request.history_columns is not None
            else request.history or (histories or {}).get(request.market_id or -1, [])
        )
        key = request.market or (markets or {}).get(request.market_id or -1)
        horizon = request.horizon_hours
        if isinstance(points, RateColumns):
            series = series_from_columns(points, request.side, history_hours(horizon))
        else:
            series = series_from_points(points, request.side, history_hours(horizon))
        # Recent origins with a full lookback whose horizon has ended: their residuals set the
        # interval. Features are computed at those origins and at the last hour only.
        past = series.apy.size - 1 - recent_offsets(horizon)
        past = past[past >= LOOKBACK_HOURS]
        at = np.append(past, series.apy.size - 1)
        matrix = apy_feature_rows(
            series.apy, series.utilization, series.deposits, model.kink(key), at, window_sums=True
        )
        rows.append(matrix[-1])
        origin_rows.append(matrix[:-1])
        origin_truth.append(future_means(series.apy, horizon)[past])
        hours = min(int(series.apy.size), LOOKBACK_HOURS + 1)
        short = hours < MIN_HISTORY_HOURS
        reasons.append(
            f"only {hours} h of history (the model needs {MIN_HISTORY_HOURS} h): persistence served" if short else None
        )
        methods.append("persistence" if short else "model")
        keys.append(key)
        grouped.setdefault(head_key(request.side, horizon), []).append(i)
    features = np.vstack(rows)
    out: list[ApyForecast | None] = [None] * len(requests)
    for hkey, indices in grouped.items():
        head = model.heads[hkey]
        for i in indices:
            if methods[i] != "model":
                continue
            if keys[i] in head.persistence_markets:
                methods[i], reasons[i] = "persistence", head.persistence_markets[keys[i] or ""]
            elif keys[i] in head.rolling_mean_markets:
                methods[i], reasons[i] = "rolling_mean", head.rolling_mean_markets[keys[i] or ""]
        fallback = np.array([methods[i] == "persistence" for i in indices])
        rolling = np.array([methods[i] == "rolling_mean" for i in indices])
        # One pass over the trees for every row of the group, the newest hours last: they are
        # replay origins of later forecasts, so they are remembered too.
        origins = [origin_rows[i] for i in indices]
        change = head.remembered_change(np.vstack([*origins, features[indices]]))
        now = change.size - len(indices)
        scores = _recent_scores(head, origins, [origin_truth[i] for i in indices], fallback, change[:now], rolling)
        bounds = head.recent_bounds(scores, requests[indices[0]].horizon_hours)
        point, lower, upper, fall = head.predict(
            features[indices], fallback, bounds, change=change[now:], rolling_mean=rolling
        )
        for j, i in enumerate(indices):
            request = requests[i]
            values = [float(v) for v in (features[i, 0], point[j], lower[j], upper[j], fall[j])]
            current, predicted, low, high, p_fall = (v if math.isfinite(v) else 0.0 for v in values)
            # model_construct: every field is computed here from validated inputs.
            out[i] = ApyForecast.model_construct(
                market_id=request.market_id,
                market=keys[i],
                side=request.side,
                horizon_hours=request.horizon_hours,
                current_apy=current,
                predicted_apy=predicted,
                lower=min(low, predicted),
                upper=max(high, predicted),
                interval_level=head.interval_level,
                fall_probability=p_fall,
                label="fall" if p_fall >= 0.5 else "stay",
                method=methods[i],
                method_reason=reasons[i],
                model_version=model.version,
            )
    return [f for f in out if f is not None]
