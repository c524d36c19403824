"""Rate conversions as the protocols document them."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

from tidewatch.protocols.rates import (
    SECONDS_PER_YEAR,
    aave_ray_apr_to_apy,
    comet_rate_to_apr,
    comet_rate_to_apy,
)


def _reference_apy(rate_per_second: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return ((1 + rate_per_second) ** SECONDS_PER_YEAR - 1).quantize(Decimal("1e-18"))


def test_aave_ray_apr_compounds_per_second() -> None:
    # Given a 5 % APR in ray
    rate = 5 * 10**25
    # When converted
    apy = aave_ray_apr_to_apy(rate)
    # Then it is (1 + APR/secondsPerYear)^secondsPerYear - 1, close to e^0.05 - 1
    assert apy == _reference_apy(Decimal("0.05") / SECONDS_PER_YEAR)
    assert abs(float(apy) - (math.exp(0.05) - 1)) < 1e-8


def test_comet_per_second_rate_times_seconds_per_year_then_compounded() -> None:
    # Given Comet's per-second supply rate for ~4 % a year (scaled 1e18)
    rate = 1_268_391_679  # 0.04 * 1e18 / 31_536_000, floored
    # When converted
    apr = comet_rate_to_apr(rate)
    apy = comet_rate_to_apy(rate)
    # Then APR = rate / 1e18 * secondsPerYear, and APY compounds the per-second rate
    assert apr == Decimal(rate) * SECONDS_PER_YEAR / Decimal(10**18)
    assert apy == _reference_apy(Decimal(rate) / Decimal(10**18))
    assert Decimal("0.0399") < apr < Decimal("0.0401")
    assert apy > apr


def test_zero_rate_is_zero_apy() -> None:
    assert aave_ray_apr_to_apy(0) == 0
    assert comet_rate_to_apy(0) == 0
