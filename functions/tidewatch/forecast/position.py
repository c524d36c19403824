"""A position's exposure to volatile prices: health factor, distance to liquidation, σ of log HF."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.assets import is_stable
from tidewatch.forecast.market import MarketParams
from tidewatch.forecast.payloads import RiskRequest
from tidewatch.forecast.reference import first_passage_lower, first_passage_upper


@dataclass(frozen=True)
class Exposure:
    """USD amounts per volatile asset; stable amounts are constant in USD.

    `collateral_weighted[i]` is Σ liquidation threshold × value of asset i posted as collateral,
    `debt[i]` the value of asset i owed. HF = (Σ cw + stable_cw) / (Σ debt + stable_debt).
    """

    symbols: tuple[str, ...]
    collateral_weighted: NDArray[np.float64]
    debt: NDArray[np.float64]
    stable_collateral: float
    stable_debt: float

    @property
    def collateral_total(self) -> float:
        return float(self.collateral_weighted.sum()) + self.stable_collateral

    @property
    def debt_total(self) -> float:
        return float(self.debt.sum()) + self.stable_debt

    @property
    def health_factor(self) -> float:
        debt = self.debt_total
        return math.inf if debt <= 0 else self.collateral_total / debt

    @property
    def distance_to_liquidation(self) -> float:
        """Fraction by which every volatile collateral price must fall (debt prices fixed) for HF = 1.

        0 when already liquidatable; 1 when even a total loss of the volatile collateral leaves
        HF ≥ 1 (the position can then only be liquidated by its debt rising).
        """
        margin = self.collateral_total - self.debt_total
        if margin <= 0:
            return 0.0
        volatile = float(self.collateral_weighted.sum())
        return 1.0 if volatile <= 0 else min(1.0, margin / volatile)

    def log_hf_sigma(self, market: MarketParams, overrides: Mapping[str, float] | None = None) -> float:
        """Annualised σ of ln HF: ‖w‖_Σ with w_i = cw_i / C − debt_i / D (first order)."""
        if not self.symbols or self.debt_total <= 0:
            return 0.0
        weights = self.collateral_weighted / self.collateral_total - self.debt / self.debt_total
        cov = market.covariance(self.symbols, overrides)
        return math.sqrt(max(0.0, float(weights @ cov @ weights)))

    def closed_form_probability(
        self, market: MarketParams, horizon_hours: int, overrides: Mapping[str, float] | None = None
    ) -> float | None:
        """The exact first-passage probability when exactly one volatile asset is involved."""
        if self.debt_total <= 0:
            return 0.0
        if self.health_factor < 1.0:
            return 1.0
        if len(self.symbols) != 1:
            return None if self.symbols else 0.0
        sigma = (overrides or {}).get(self.symbols[0], market.vol(self.symbols[0]))
        net = float(self.collateral_weighted[0] - self.debt[0])
        shortfall = self.stable_debt - self.stable_collateral  # HF < 1  ⟺  net · s < shortfall
        if net > 0:
            return 0.0 if shortfall <= 0 else float(first_passage_lower(shortfall / net, sigma, horizon_hours))
        if net < 0:
            return 0.0 if shortfall >= 0 else float(first_passage_upper(shortfall / net, sigma, horizon_hours))
        return 0.0


def exposure_of(request: RiskRequest, market: MarketParams) -> Exposure:
    """Fold the request's legs by asset; unknown assets raise `UnknownAsset` (via `market.vol`)."""
    cw: dict[str, float] = {}
    debt: dict[str, float] = {}
    stable_c = stable_d = 0.0
    for leg in request.collateral:
        value = leg.value_usd * float(leg.liquidation_threshold)
        if is_stable(leg.symbol):
            stable_c += value
        else:
            market.vol(leg.symbol)
            cw[leg.symbol] = cw.get(leg.symbol, 0.0) + value
    for d in request.debt:
        if is_stable(d.symbol):
            stable_d += d.value_usd
        else:
            market.vol(d.symbol)
            debt[d.symbol] = debt.get(d.symbol, 0.0) + d.value_usd
    symbols = tuple(sorted(set(cw) | set(debt)))
    return Exposure(
        symbols=symbols,
        collateral_weighted=np.array([cw.get(s, 0.0) for s in symbols]),
        debt=np.array([debt.get(s, 0.0) for s in symbols]),
        stable_collateral=stable_c,
        stable_debt=stable_d,
    )
