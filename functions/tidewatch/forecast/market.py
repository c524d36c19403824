"""Volatilities and correlations of asset prices, estimated from hourly history.

Estimates use hourly log returns over the trailing `window_hours` (default 30 days): the
volatility is an exponentially weighted standard deviation (half-life 7 days, so a calm month
after a crash is not ignored and a fresh shock counts fully), annualised with √8766; the
correlation is the plain sample correlation over the hours both assets have. Fallbacks (see
`assets`) apply when an asset has fewer than `MIN_HISTORY_HOURS` returns, or a pair fewer than
that many common hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.assets import (
    FALLBACK_VOLATILITY,
    HOURS_PER_YEAR,
    MIN_HISTORY_HOURS,
    canonical,
    fallback_correlation,
    is_stable,
)
from tidewatch.forecast.errors import UnknownAsset
from tidewatch.forecast.history import HourlySeries, align

DEFAULT_WINDOW_HOURS = 720
DEFAULT_HALFLIFE_HOURS = 168.0


@dataclass(frozen=True)
class MarketParams:
    """Annualised volatilities and pairwise correlations of the volatile assets."""

    volatility: Mapping[str, float]
    correlation: Mapping[tuple[str, str], float]
    # Memo of resolved volatilities by the symbol as given: scoring thousands of positions asks
    # for the same few assets over and over.
    _resolved: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def vol(self, symbol: str) -> float:
        cached = self._resolved.get(symbol)
        if cached is not None:
            return cached
        value = self._resolve_vol(symbol)
        self._resolved[symbol] = value
        return value

    def _resolve_vol(self, symbol: str) -> float:
        sym = canonical(symbol)
        if is_stable(sym):
            return 0.0
        if sym in self.volatility:
            return self.volatility[sym]
        if sym in FALLBACK_VOLATILITY:
            return FALLBACK_VOLATILITY[sym]
        raise UnknownAsset(f"no volatility estimate or fallback for asset {symbol!r}", asset=symbol)

    def corr(self, a: str, b: str) -> float:
        x, y = canonical(a), canonical(b)
        if x == y:
            return 1.0
        key = (x, y) if x < y else (y, x)
        return self.correlation.get(key, fallback_correlation(x, y))

    def covariance(self, symbols: Iterable[str], overrides: Mapping[str, float] | None = None) -> NDArray[np.float64]:
        syms = list(symbols)
        vols = np.array([(overrides or {}).get(canonical(s), self.vol(s)) for s in syms])
        corr = np.array([[self.corr(a, b) for b in syms] for a in syms]) if syms else np.zeros((0, 0))
        return corr * np.outer(vols, vols)

    def knows(self, symbol: str) -> bool:
        sym = canonical(symbol)
        return is_stable(sym) or sym in self.volatility or sym in FALLBACK_VOLATILITY

    def overlay(self, fresher: MarketParams) -> MarketParams:
        """These estimates, replaced by `fresher` ones wherever those exist."""
        return MarketParams({**self.volatility, **fresher.volatility}, {**self.correlation, **fresher.correlation})

    def to_json(self) -> dict[str, object]:
        return {
            "volatility": dict(sorted(self.volatility.items())),
            "correlation": [[a, b, c] for (a, b), c in sorted(self.correlation.items())],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> MarketParams:
        vols = {canonical(k): float(v) for k, v in dict(data.get("volatility", {})).items()}  # type: ignore[call-overload]
        corr = {}
        for a, b, c in data.get("correlation", []):  # type: ignore[attr-defined]
            x, y = sorted((canonical(a), canonical(b)))
            corr[(x, y)] = float(c)
        return cls(vols, corr)


FALLBACK_PARAMS = MarketParams({}, {})


def log_returns(series: HourlySeries) -> NDArray[np.float64]:
    """Hourly log returns on the series' grid (NaN where either hour is missing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.diff(np.log(series.values))


def ewma_volatility(returns: NDArray[np.float64], halflife_hours: float = DEFAULT_HALFLIFE_HOURS) -> float:
    """Annualised EWMA standard deviation of the finite returns (the newest weigh most)."""
    r = returns[np.isfinite(returns)]
    if r.size < MIN_HISTORY_HOURS:
        return math.nan
    weights = 0.5 ** (np.arange(r.size)[::-1] / halflife_hours)
    variance = float(np.sum(weights * r * r) / np.sum(weights))
    return math.sqrt(variance * HOURS_PER_YEAR)


def trailing_volatility(series: HourlySeries, halflife_hours: float = DEFAULT_HALFLIFE_HOURS) -> NDArray[np.float64]:
    """EWMA volatility known at each hour of the series (NaN until `MIN_HISTORY_HOURS` returns).

    Missing returns count as zero-weight; used to build training features without look-ahead.
    """
    r = np.concatenate([[np.nan], log_returns(series)])
    finite = np.isfinite(r)
    decay = 0.5 ** (1.0 / halflife_hours)
    out = np.full(r.size, np.nan)
    num = den = 0.0
    count = 0
    r2 = np.where(finite, r * r, 0.0)
    for i in range(r.size):  # a recursive filter: O(n), a few ms for two years of hours
        num = decay * num + r2[i]
        den = decay * den + (1.0 if finite[i] else 0.0)
        count += int(finite[i])
        if count >= MIN_HISTORY_HOURS and den > 0:
            out[i] = math.sqrt(num / den * HOURS_PER_YEAR)
    return out


def estimate_market_params(
    prices: Mapping[str, HourlySeries],
    *,
    end_hour: int | None = None,
    window_hours: int = DEFAULT_WINDOW_HOURS,
    halflife_hours: float = DEFAULT_HALFLIFE_HOURS,
) -> MarketParams:
    """Estimate from the `window_hours` before `end_hour` (default: the newest hour of any series)."""
    volatile = {canonical(s): p for s, p in prices.items() if not is_stable(s) and p.values.size}
    if not volatile:
        return FALLBACK_PARAMS
    end = end_hour if end_hour is not None else max(p.end_hour for p in volatile.values())
    start = end - window_hours
    returns = {
        s: np.diff(np.log(np.where(aligned > 0, aligned, np.nan)))
        for s, p in volatile.items()
        for aligned in [align(p, start, end)]
    }
    vols: dict[str, float] = {}
    for sym, r in returns.items():
        vol = ewma_volatility(r, halflife_hours)
        if math.isfinite(vol):
            vols[sym] = vol
    corr: dict[tuple[str, str], float] = {}
    syms = sorted(returns)
    for i, a in enumerate(syms):
        for b in syms[i + 1 :]:
            both = np.isfinite(returns[a]) & np.isfinite(returns[b])
            if both.sum() >= MIN_HISTORY_HOURS:
                c = float(np.corrcoef(returns[a][both], returns[b][both])[0, 1])
                if math.isfinite(c):
                    corr[(a, b)] = max(-0.99, min(0.99, c))
    return MarketParams(vols, corr)
