"""Rate conversions exactly as each protocol documents them. Exact Decimal arithmetic.

Aave v3 (docs "Reserve data > rates"): rates are APRs in ray (1e27); the APY compounds per second:
    APY = (1 + APR / SECONDS_PER_YEAR) ** SECONDS_PER_YEAR - 1
Compound III (docs "Interest rates"): `getSupplyRate`/`getBorrowRate` return a per-second rate
scaled by 1e18; APR = rate / 1e18 * SECONDS_PER_YEAR, and the APY compounds that per second:
    APY = (1 + rate / 1e18) ** SECONDS_PER_YEAR - 1
Both protocols use a 365-day year.
"""

from __future__ import annotations

from decimal import Context, Decimal

SECONDS_PER_YEAR = 31_536_000  # 365 days, as in Aave's MathUtils and Comet's docs
RAY = 10**27
WAD = 10**18
_CTX = Context(prec=60)  # (1 + x)**31_536_000 by squaring keeps ~50 significant digits
_QUANTUM = Decimal("1e-18")


def compound_per_second(rate_per_second: Decimal) -> Decimal:
    """(1 + r) ** SECONDS_PER_YEAR - 1, rounded to 18 decimal places."""
    growth = _CTX.power(_CTX.add(Decimal(1), rate_per_second), SECONDS_PER_YEAR)
    return _CTX.subtract(growth, Decimal(1)).quantize(_QUANTUM, context=_CTX)


def aave_ray_apr_to_apy(rate_ray: int) -> Decimal:
    apr = _CTX.divide(Decimal(rate_ray), Decimal(RAY))
    return compound_per_second(_CTX.divide(apr, Decimal(SECONDS_PER_YEAR)))


def aave_ray_to_apr(rate_ray: int) -> Decimal:
    return _CTX.divide(Decimal(rate_ray), Decimal(RAY))


def comet_rate_to_apr(rate_per_second: int) -> Decimal:
    return _CTX.divide(Decimal(rate_per_second * SECONDS_PER_YEAR), Decimal(WAD))


def comet_rate_to_apy(rate_per_second: int) -> Decimal:
    return compound_per_second(_CTX.divide(Decimal(rate_per_second), Decimal(WAD)))


def scaled(value: int, decimals: int) -> Decimal:
    """An integer with `decimals` implied decimals as an exact Decimal (prices, factors)."""
    return _CTX.divide(Decimal(value), Decimal(10) ** decimals)
