"""A position's exposure to volatile prices: health factor, distance to liquidation, σ of log HF.

Plain Python floats on purpose: positions hold one to a few assets, and numpy's per-call
overhead on tiny arrays would dominate the batched scoring of thousands of positions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tidewatch.forecast.assets import STABLECOINS
from tidewatch.forecast.market import MarketParams
from tidewatch.forecast.payloads import RiskRequest
from tidewatch.forecast.reference import first_passage_lower, first_passage_upper

LOWER, UPPER = -1, 1


@dataclass(frozen=True, slots=True)
class Barrier:
    """Exactly one volatile asset: HF < 1 ⟺ its price ratio crosses `level` (below or above)."""

    direction: int  # LOWER or UPPER
    level: float
    sigma: float


@dataclass(frozen=True, slots=True)
class Exposure:
    """USD amounts per volatile asset; stable amounts are constant in USD.

    `collateral_weighted[i]` is Σ liquidation threshold × value of asset i posted as collateral,
    `debt[i]` the value of asset i owed. HF = (Σ cw + stable_cw) / (Σ debt + stable_debt).
    """

    symbols: tuple[str, ...]
    collateral_weighted: tuple[float, ...]
    debt: tuple[float, ...]
    stable_collateral: float
    stable_debt: float
    collateral_total: float
    debt_total: float

    @property
    def health_factor(self) -> float:
        return math.inf if self.debt_total <= 0 else self.collateral_total / self.debt_total

    @property
    def distance_to_liquidation(self) -> float:
        """Fraction by which every volatile collateral price must fall (debt prices fixed) for HF = 1.

        0 when already liquidatable; 1 when even a total loss of the volatile collateral leaves
        HF ≥ 1 (the position can then only be liquidated by its debt rising).
        """
        margin = self.collateral_total - self.debt_total
        if margin <= 0:
            return 0.0
        volatile = self.collateral_total - self.stable_collateral
        return 1.0 if volatile <= 0 else min(1.0, margin / volatile)

    def log_hf_sigma(self, market: MarketParams, overrides: Mapping[str, float] | None = None) -> float:
        """Annualised σ of ln HF: √(wᵀΣw) with w_i = cw_i / C − debt_i / D (first order)."""
        if not self.symbols or self.debt_total <= 0:
            return 0.0
        weights = [
            c / self.collateral_total - d / self.debt_total
            for c, d in zip(self.collateral_weighted, self.debt, strict=True)
        ]
        vols = [_vol(market, s, overrides) for s in self.symbols]
        variance = 0.0
        for i, a in enumerate(self.symbols):
            variance += (weights[i] * vols[i]) ** 2
            for j in range(i + 1, len(self.symbols)):
                variance += 2.0 * weights[i] * weights[j] * vols[i] * vols[j] * market.corr(a, self.symbols[j])
        return math.sqrt(max(0.0, variance))

    def barrier(self, market: MarketParams, overrides: Mapping[str, float] | None = None) -> Barrier | float | None:
        """The closed-form case: a `Barrier`, a certain probability (0 or 1), or None (several assets)."""
        if self.debt_total <= 0:
            return 0.0
        if self.collateral_total < self.debt_total:
            return 1.0
        if len(self.symbols) != 1:
            return None if self.symbols else 0.0
        sigma = _vol(market, self.symbols[0], overrides)
        net = self.collateral_weighted[0] - self.debt[0]
        shortfall = self.stable_debt - self.stable_collateral  # HF < 1  ⟺  net · s < shortfall
        if net > 0 and shortfall > 0:
            return Barrier(LOWER, shortfall / net, sigma)
        if net < 0 and shortfall < 0:
            return Barrier(UPPER, shortfall / net, sigma)
        return 0.0

    def closed_form_probability(
        self, market: MarketParams, horizon_hours: int, overrides: Mapping[str, float] | None = None
    ) -> float | None:
        """The exact first-passage probability when exactly one volatile asset is involved."""
        case = self.barrier(market, overrides)
        if not isinstance(case, Barrier):
            return case
        passage = first_passage_lower if case.direction == LOWER else first_passage_upper
        return float(passage(case.level, case.sigma, horizon_hours))


def _vol(market: MarketParams, symbol: str, overrides: Mapping[str, float] | None) -> float:
    override = None if overrides is None else overrides.get(symbol)
    return market.vol(symbol) if override is None else override


def exposure_of(request: RiskRequest, market: MarketParams) -> Exposure:
    """Fold the request's legs by asset; unknown assets raise `UnknownAsset` (via `market.vol`)."""
    return exposure_from_legs(
        [(leg.symbol, leg.value_usd * float(leg.liquidation_threshold)) for leg in request.collateral],
        [(leg.symbol, leg.value_usd) for leg in request.debt],
        market,
    )


def exposure_from_legs(
    collateral: Iterable[tuple[str, float]], debt_legs: Iterable[tuple[str, float]], market: MarketParams
) -> Exposure:
    """Fold (canonical symbol, USD value) legs by asset — collateral values already weighted by
    their liquidation threshold; unknown assets raise `UnknownAsset` (via `market.vol`)."""
    cw: dict[str, float] = {}
    debt: dict[str, float] = {}
    stable_c = stable_d = 0.0
    for symbol, value in collateral:
        if symbol in STABLECOINS:
            stable_c += value
        else:
            if symbol not in cw:
                market.vol(symbol)
            cw[symbol] = cw.get(symbol, 0.0) + value
    for symbol, value in debt_legs:
        if symbol in STABLECOINS:
            stable_d += value
        else:
            if symbol not in debt:
                market.vol(symbol)
            debt[symbol] = debt.get(symbol, 0.0) + value
    symbols = (
        tuple(sorted(cw.keys() | debt.keys())) if (cw and debt) or len(cw) > 1 or len(debt) > 1 else tuple(cw or debt)
    )
    weighted = tuple(cw.get(s, 0.0) for s in symbols)
    owed = tuple(debt.get(s, 0.0) for s in symbols)
    return Exposure(
        symbols=symbols,
        collateral_weighted=weighted,
        debt=owed,
        stable_collateral=stable_c,
        stable_debt=stable_d,
        collateral_total=sum(weighted) + stable_c,
        debt_total=sum(owed) + stable_d,
    )
