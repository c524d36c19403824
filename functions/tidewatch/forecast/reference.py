"""Exact references for the liquidation probability.

Prices follow geometric Brownian motion with zero drift in price (μ = 0, a martingale: the model
takes no view on direction), so log prices drift at ν = −σ²/2.

* Closed form (one volatile asset against stable amounts): the health factor crosses 1 exactly
  when the price ratio s = S_t/S_0 crosses a barrier B. For a lower barrier (b = −ln B > 0) the
  first-passage probability of X_t = ln s within T years is

      P = Φ((−b − νT)/(σ√T)) + exp(−2νb/σ²) · Φ((−b + νT)/(σ√T))

  and symmetrically for an upper barrier (volatile debt). With ν = 0 this is 2Φ(−b/(σ√T)).
* Monte Carlo (any number of correlated volatile assets): correlated GBM paths on an hourly
  grid, liquidation when the simulated health factor is below 1 at any hour (hourly monitoring,
  the same resolution as the realised labels in evaluation).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tidewatch.forecast.assets import HOURS_PER_YEAR
from tidewatch.forecast.normal import norm_cdf


def first_passage_lower(
    barrier: ArrayLike, sigma: ArrayLike, horizon_hours: ArrayLike, drift: ArrayLike | None = None
) -> NDArray[np.float64]:
    """P(min_{t≤T} S_t/S_0 ≤ barrier) for 0 < barrier; barrier ≥ 1 means already liquidated.

    `drift` is μ (per year, in price); default 0. Vectorised over all arguments.
    """
    barrier = np.asarray(barrier, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    years = np.asarray(horizon_hours, dtype=np.float64) / HOURS_PER_YEAR
    mu = np.zeros_like(sigma) if drift is None else np.asarray(drift, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        b = -np.log(barrier)
        nu = mu - 0.5 * sigma * sigma
        sd = sigma * np.sqrt(years)
        first = norm_cdf((-b - nu * years) / sd)
        # exp(−2νb/σ²)·Φ(...) can overflow × underflow; combine in log space for stability.
        log_second = -2.0 * nu * b / (sigma * sigma) + np.log(np.maximum(norm_cdf((-b + nu * years) / sd), 1e-300))
        p = first + np.exp(np.minimum(log_second, 0.0))
    p = np.where(sd > 0, p, 0.0)
    p = np.where(barrier >= 1.0, 1.0, p)
    p = np.where(barrier <= 0.0, 0.0, p)
    return np.clip(np.nan_to_num(p, nan=0.0), 0.0, 1.0)


def first_passage_upper(
    barrier: ArrayLike, sigma: ArrayLike, horizon_hours: ArrayLike, drift: ArrayLike | None = None
) -> NDArray[np.float64]:
    """P(max_{t≤T} S_t/S_0 ≥ barrier) for barrier > 0: the lower passage of the mirrored path."""
    barrier = np.asarray(barrier, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    mu = np.zeros_like(sigma) if drift is None else np.asarray(drift, dtype=np.float64)
    # ln(1/S) has drift −ν = −(μ − σ²/2): the mirrored price has μ' = σ² − μ.
    with np.errstate(divide="ignore"):
        mirrored = np.where(barrier > 0, 1.0 / barrier, np.inf)
    p = first_passage_lower(np.minimum(mirrored, 1.0), sigma, horizon_hours, sigma * sigma - mu)
    return np.where(barrier <= 1.0, 1.0, p)


def monte_carlo_probability(
    collateral_weighted: ArrayLike,
    debt: ArrayLike,
    stable_collateral: float,
    stable_debt: float,
    covariance: ArrayLike,
    horizon_hours: int,
    *,
    paths: int = 20_000,
    seed: int = 7,
) -> float:
    """P(HF < 1 at some hour ≤ horizon) for a position exposed to k correlated volatile assets.

    `collateral_weighted[i]` is Σ liquidation-threshold × USD value of asset i on the collateral
    side, `debt[i]` its USD value on the debt side; stable amounts are constant.
    """
    cw = np.asarray(collateral_weighted, dtype=np.float64)
    dv = np.asarray(debt, dtype=np.float64)
    cov = np.asarray(covariance, dtype=np.float64).reshape(cw.size, cw.size)
    if cw.sum() + stable_collateral < dv.sum() + stable_debt:
        return 1.0
    if cw.size == 0:
        return 0.0
    dt = 1.0 / HOURS_PER_YEAR
    chol = np.linalg.cholesky(cov * dt + np.eye(cw.size) * 1e-18)
    drift = -0.5 * np.diag(cov) * dt
    rng = np.random.default_rng(seed)
    log_s = np.zeros((paths, cw.size))
    hit = np.zeros(paths, dtype=bool)
    net = cw - dv
    shortfall = stable_debt - stable_collateral
    for _ in range(int(horizon_hours)):
        log_s += drift + rng.standard_normal((paths, cw.size)) @ chol.T
        hit |= np.exp(log_s) @ net < shortfall
    return float(hit.mean())
