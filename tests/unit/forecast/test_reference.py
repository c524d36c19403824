"""The exact references: closed-form first passage and correlated Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tidewatch.forecast.normal import norm_cdf
from tidewatch.forecast.reference import first_passage_lower, first_passage_upper, monte_carlo_probability

YEAR_HOURS = 8766.0


def test_norm_cdf_keeps_relative_accuracy_in_the_tails() -> None:
    # Given points from the centre to far in the lower tail
    x = np.array([-30.0, -12.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0])
    # When Φ is computed with numpy only
    got = norm_cdf(x)
    # Then it matches erfc from the standard library to 2e-7 relative error
    want = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    assert np.allclose(got, want, rtol=2e-7, atol=0)


@pytest.mark.parametrize(
    ("log_barrier", "sd", "expected"),
    [
        (0.1, 0.1, 0.31731050786291415),  # 2Φ(−1)
        (0.2, 0.1, 0.04550026389635842),  # 2Φ(−2)
        (0.3, 0.1, 0.0026997960632601866),  # 2Φ(−3)
    ],
)
def test_driftless_log_price_gives_twice_the_terminal_tail(log_barrier: float, sd: float, expected: float) -> None:
    # Given a price whose log has zero drift (μ = σ²/2) and a barrier b below the start
    sigma = 0.6
    hours = (sd / sigma) ** 2 * YEAR_HOURS
    # When the first-passage probability is computed
    p = first_passage_lower(math.exp(-log_barrier), sigma, hours, drift=sigma**2 / 2)
    # Then it is the reflection-principle value 2Φ(−b/(σ√T))
    assert float(p) == pytest.approx(expected, rel=1e-6)


def test_closed_form_with_drift_matches_the_textbook_formula() -> None:
    # Given zero price drift (log drift ν = −σ²/2), barrier 0.8, σ = 0.6, one week
    sigma, t, b = 0.6, 168 / YEAR_HOURS, -math.log(0.8)
    nu = -0.5 * sigma**2
    phi = lambda v: 0.5 * math.erfc(-v / math.sqrt(2))  # noqa: E731
    expected = phi((-b - nu * t) / (sigma * math.sqrt(t))) + math.exp(-2 * nu * b / sigma**2) * phi(
        (-b + nu * t) / (sigma * math.sqrt(t))
    )
    # When / Then
    assert float(first_passage_lower(0.8, sigma, 168)) == pytest.approx(expected, rel=1e-6)


def test_barrier_at_or_above_spot_is_certain_and_zero_vol_is_impossible() -> None:
    assert float(first_passage_lower(1.0, 0.5, 24)) == 1.0
    assert float(first_passage_lower(0.9, 0.0, 24)) == 0.0
    assert float(first_passage_upper(1.0, 0.5, 24)) == 1.0


def test_monte_carlo_agrees_with_the_closed_form_for_one_asset() -> None:
    # Given WETH collateral against stable debt at HF 1.25 over a week
    closed = float(first_passage_lower(0.8, 0.6, 168))
    # When simulated with hourly monitoring
    mc = monte_carlo_probability([1.0], [0.0], 0.0, 0.8, [[0.36]], 168, paths=40_000)
    # Then they agree within sampling error plus the discrete-monitoring bias (MC is lower)
    assert mc == pytest.approx(closed, abs=0.003)
    assert mc <= closed + 0.001


def test_upper_barrier_for_volatile_debt_agrees_with_monte_carlo() -> None:
    # Given stable collateral (weighted 1.25) against 1.0 of WETH debt
    closed = float(first_passage_upper(1.25, 0.6, 168))
    mc = monte_carlo_probability([0.0], [1.0], 1.25, 0.0, [[0.36]], 168, paths=40_000)
    assert mc == pytest.approx(closed, abs=0.003)


def test_correlated_collateral_is_riskier_than_diversified_collateral() -> None:
    # Given two volatile collaterals at HF 1.2, perfectly vs weakly correlated
    def probability(rho: float) -> float:
        cov = np.array([[0.36, rho * 0.36], [rho * 0.36, 0.36]])
        return monte_carlo_probability([0.6, 0.6], [0.0, 0.0], 0.0, 1.0, cov, 168, paths=20_000)

    # Then diversification lowers the probability
    assert probability(0.2) < probability(0.95)
