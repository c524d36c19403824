"""Training and evaluation samples built from hourly history (numpy only).

Risk samples are synthetic positions on *real* price paths: at a start hour t a position with
health factor HF₀ is opened and labelled 1 if its health factor, recomputed from the realised
hourly prices, falls below 1 within the horizon. Three shapes are drawn:

* `single`: one volatile collateral against stable debt (the closed form is exact);
* `pair`: two volatile collaterals (random split) against stable debt;
* `cross`: one volatile collateral against a different volatile debt.

Features use only what is known at t: the trailing EWMA volatility of each asset (fallback
table before 72 h of history) and correlations estimated on the training window.

APY samples are every hour of every clean market series with a full 168 h look-back and a
complete target window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations, permutations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from tidewatch.forecast.apy_model import (
    APY_FEATURES,
    DEFAULT_KINK,
    LOOKBACK_HOURS,
    apy_feature_matrix,
    market_key_from_name,
)
from tidewatch.forecast.assets import FALLBACK_VOLATILITY
from tidewatch.forecast.history import HourlyHistory, HourlySeries, align
from tidewatch.forecast.market import MarketParams, trailing_volatility

RISK_HORIZONS = (24, 168)
APY_HORIZONS = (24, 168)
APY_SIDES = ("supply", "borrow")
HF_RANGE = (1.005, 2.0)


@dataclass(frozen=True)
class RiskSamples:
    hour: NDArray[np.int64]  # start hour (unix hours)
    horizon: NDArray[np.float64]
    health_factor: NDArray[np.float64]
    sigma: NDArray[np.float64]  # annualised σ of ln HF known at the start
    label: NDArray[np.bool_]
    shape: NDArray[np.str_]
    single_asset: NDArray[np.bool_]
    # What the Monte Carlo reference needs: the two legs' σ, their correlation, and the share of
    # the first leg in the collateral (pair) — single: σ₂ = 0; cross: leg 2 is the debt.
    leg_sigma: NDArray[np.float64]
    rho: NDArray[np.float64]
    split: NDArray[np.float64]

    def take(self, mask: NDArray[np.bool_]) -> RiskSamples:
        return RiskSamples(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[RiskSamples]) -> RiskSamples:
        return RiskSamples(*(np.concatenate([getattr(p, f) for p in parts]) for f in RiskSamples.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.hour.size)


def _volatility_path(symbol: str, series_values: NDArray[np.float64], start: int) -> NDArray[np.float64]:
    vol = trailing_volatility(HourlySeries(start, series_values))
    return np.where(np.isfinite(vol), vol, FALLBACK_VOLATILITY.get(symbol, 1.0))


def risk_samples(
    history: HourlyHistory,
    market: MarketParams,
    *,
    stride_hours: int = 6,
    draws_per_start: int = 2,
    seed: int = 11,
) -> RiskSamples:
    rng = np.random.default_rng(seed)
    prices = {s: p for s, p in history.prices.items() if market.knows(s) and p.values.size > 200}
    lo, hi = history.window()
    grid = {s: align(p, lo, hi) for s, p in prices.items()}
    vols = {s: _volatility_path(s, g, lo) for s, g in grid.items()}
    parts: list[RiskSamples] = []

    def add(shape: str, weights: list[tuple[str, float]], debt_symbol: str | None, stride: int) -> None:
        # The HF path relative to its start: Σ w_i s_i(t) / s_debt(t), s = price / price at start.
        for horizon in RISK_HORIZONS:
            starts = np.arange(0, grid[weights[0][0]].size - horizon - 1, stride)
            if starts.size == 0:
                continue
            # Build the ratio path per start: hourly paths of each leg, aligned to the start.
            paths = np.zeros((starts.size, horizon))
            for sym, w in weights:
                g = grid[sym]
                win = sliding_window_view(g[1:], horizon)[starts]
                paths += w * win / g[starts][:, None]
            if debt_symbol is not None:
                g = grid[debt_symbol]
                paths /= sliding_window_view(g[1:], horizon)[starts] / g[starts][:, None]
            worst = paths.min(axis=1)  # NaN when any hour of the window is missing: dropped
            complete = np.isfinite(worst)
            starts, worst = starts[complete], worst[complete]
            if starts.size == 0:
                continue
            legs = [sym for sym, _ in weights] + ([debt_symbol] if debt_symbol else [])
            wvec = np.array([w for _, w in weights] + ([-1.0] if debt_symbol else []))
            sig = np.stack([vols[s][starts] for s in legs], axis=1)
            corr = np.array([[market.corr(a, b) for b in legs] for a in legs])
            sigma = np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", sig * wvec, corr, sig * wvec), 0.0))
            n = starts.size * draws_per_start
            hf = np.exp(rng.uniform(math.log(HF_RANGE[0]), math.log(HF_RANGE[1]), n))
            rep = np.repeat(np.arange(starts.size), draws_per_start)
            parts.append(
                RiskSamples(
                    hour=(lo + starts[rep]).astype(np.int64),
                    horizon=np.full(n, float(horizon)),
                    health_factor=hf,
                    sigma=sigma[rep],
                    label=worst[rep] * hf < 1.0,
                    shape=np.full(n, shape),
                    single_asset=np.full(n, shape == "single"),
                    leg_sigma=np.column_stack([sig[:, 0], sig[:, 1] if sig.shape[1] > 1 else np.zeros(starts.size)])[
                        rep
                    ],
                    rho=np.full(n, corr[0, 1] if len(legs) > 1 else 1.0),
                    split=np.full(n, weights[0][1]),
                )
            )

    symbols = sorted(grid)
    for sym in symbols:
        add("single", [(sym, 1.0)], None, stride_hours)
    for a, b in combinations(symbols, 2):
        split = float(rng.uniform(0.2, 0.8))
        add("pair", [(a, split), (b, 1.0 - split)], None, stride_hours * 4)
    for a, b in permutations(symbols, 2):
        add("cross", [(a, 1.0)], b, stride_hours * 8)
    if not parts:
        return RiskSamples.concat([_empty_risk()])
    return RiskSamples.concat(parts)


def _empty_risk() -> RiskSamples:
    return RiskSamples(
        np.empty(0, np.int64),
        np.empty(0),
        np.empty(0),
        np.empty(0),
        np.empty(0, bool),
        np.empty(0, "<U6"),
        np.empty(0, bool),
        np.empty((0, 2)),
        np.empty(0),
        np.empty(0),
    )


@dataclass(frozen=True)
class ApySamples:
    hour: NDArray[np.int64]  # the forecast time t (unix hours)
    market: NDArray[np.str_]
    features: NDArray[np.float64]
    target: NDArray[np.float64]  # mean APY over (t, t + H]
    rolling_mean: NDArray[np.float64]  # baseline: mean over the last H hours

    def take(self, mask: NDArray[np.bool_]) -> ApySamples:
        return ApySamples(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.hour.size)


def _segments(finite: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) runs of True."""
    padded = np.concatenate([[False], finite, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def estimate_kink(utilization: NDArray[np.float64], borrow: NDArray[np.float64]) -> float:
    """The optimal utilisation of a market's rate curve: the breakpoint of the two-segment
    linear fit of borrow APY on utilisation with the least squared error (steeper above the
    kink); the default when the history never spans a kink."""
    ok = np.isfinite(utilization) & np.isfinite(borrow) & (utilization > 0) & (utilization <= 1.0)
    u, b = utilization[ok], borrow[ok]
    if u.size < 100 or np.ptp(u) < 0.05:
        return DEFAULT_KINK
    best, best_sse = DEFAULT_KINK, np.inf
    for k in np.arange(0.40, 0.96, 0.01):
        if (u > k).sum() < 20 or (u <= k).sum() < 20:
            continue
        x = np.column_stack([np.ones(u.size), u, np.maximum(u - k, 0.0)])
        coef, *_ = np.linalg.lstsq(x, b, rcond=None)
        sse = float(np.sum((x @ coef - b) ** 2))
        if coef[2] > max(coef[1], 0.0) and sse < best_sse:
            best, best_sse = float(round(k, 2)), sse
    return best


def market_kinks(history: HourlyHistory) -> dict[str, float]:
    """Kink per market key, from each market's utilisation and borrow APY history."""
    out: dict[str, float] = {}
    for rates in history.rates:
        lo, hi = rates.borrow.start_hour, rates.borrow.end_hour
        out[market_key_from_name(rates.market)] = estimate_kink(align(rates.utilization, lo, hi), rates.borrow.values)
    return out


def apy_samples(history: HourlyHistory, side: str, horizon: int, kinks: dict[str, float] | None = None) -> ApySamples:
    hours: list[NDArray[np.int64]] = []
    markets: list[NDArray[np.str_]] = []
    features: list[NDArray[np.float64]] = []
    targets: list[NDArray[np.float64]] = []
    rolling: list[NDArray[np.float64]] = []
    kinks = kinks if kinks is not None else market_kinks(history)
    for rates in history.rates:
        series = rates.supply if side == "supply" else rates.borrow
        key = market_key_from_name(rates.market)
        y = series.values
        util = align(rates.utilization, series.start_hour, series.end_hour)
        util = np.where(np.isfinite(util), util, 0.0)
        deposits = (
            align(rates.deposits, series.start_hour, series.end_hour)
            if rates.deposits is not None
            else np.full(y.size, np.nan)
        )
        for a, b in _segments(np.isfinite(y)):
            seg, useg = y[a:b], util[a:b]
            if seg.size < LOOKBACK_HOURS + horizon + 1:
                continue
            feats = apy_feature_matrix(seg, useg, deposits[a:b], kinks.get(key, DEFAULT_KINK))
            c = np.concatenate([[0.0], np.cumsum(seg)])
            t = np.arange(LOOKBACK_HOURS, seg.size - horizon)
            target = (c[t + horizon + 1] - c[t + 1]) / horizon
            roll = (c[t + 1] - c[t + 1 - horizon]) / horizon
            hours.append(series.start_hour + a + t)
            markets.append(np.full(t.size, key))
            features.append(feats[t])
            targets.append(target)
            rolling.append(roll)
    if not hours:
        return ApySamples(
            np.empty(0, np.int64), np.empty(0, "<U8"), np.empty((0, len(APY_FEATURES))), np.empty(0), np.empty(0)
        )
    return ApySamples(
        np.concatenate(hours),
        np.concatenate(markets),
        np.vstack(features),
        np.concatenate(targets),
        np.concatenate(rolling),
    )
