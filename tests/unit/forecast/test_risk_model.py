"""The fast risk model: monotonicity, agreement with the reference, bands and input errors."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from risk.deps import Models
from tests.unit.forecast.positions import eth_position
from tidewatch.forecast.bands import band
from tidewatch.forecast.errors import UnknownAsset
from tidewatch.forecast.payloads import Collateral, Holding, RiskRequest
from tidewatch.forecast.reference import monte_carlo_probability
from tidewatch.forecast.risk_model import score_positions


def test_higher_health_factor_never_raises_risk(models: Models) -> None:
    # Given the same position at increasing health factors, for several vols and horizons
    hf = np.linspace(1.0, 3.0, 400)
    for sigma in (0.05, 0.3, 0.6, 1.2):
        for hours in (1, 24, 168, 720):
            # When the model scores them
            p = models.risk.probability(hf, np.full(hf.size, sigma), np.full(hf.size, hours))
            # Then the probability never increases with HF
            assert np.all(np.diff(p) <= 1e-15), (sigma, hours)


def test_higher_volatility_never_lowers_risk(models: Models) -> None:
    sigma = np.linspace(0.01, 3.0, 400)
    for hf in (1.01, 1.1, 1.5, 2.5):
        for hours in (1, 24, 168, 720):
            p = models.risk.probability(np.full(sigma.size, hf), sigma, np.full(sigma.size, hours))
            assert np.all(np.diff(p) >= -1e-15), (hf, hours)


def test_no_saturation_health_factor_to_one_gives_certainty(models: Models) -> None:
    # Given positions ever closer to HF 1, at any horizon and volatility
    for hours in (1, 6, 24, 72, 168, 720):
        for sigma in (0.3, 0.6, 1.2):
            hf = np.array([1.0 + 1e-9, 1.0 + 1e-6, 1.0001, 1.001])
            p = models.risk.probability(hf, np.full(hf.size, sigma), np.full(hf.size, hours))
            # Then the probability approaches 1 (no ceiling below certainty)
            assert p[0] > 0.999, (hours, sigma, p)
            assert np.all(np.diff(p) <= 0)
    # And the forecasts span [0, 1]: far-away positions are near 0
    far = models.risk.probability(np.array([5.0]), np.array([0.6]), np.array([24.0]))
    assert far[0] < 1e-3


def test_the_calibration_map_is_monotone_and_anchored() -> None:
    # Given a map fitted somewhere in the middle of the range
    from tidewatch.forecast.risk_model import CalibrationMap

    m = CalibrationMap(np.array([-6.0, -2.0, 0.0, 2.0]), np.array([0.01, 0.1, 0.4, 0.8]))
    q = np.concatenate([[0.0, 1e-12], np.linspace(1e-6, 1.0, 2001)])
    p = m(q)
    # Then it never decreases, reaches 0 at q = 0 and 1 at q = 1
    assert np.all(np.diff(p) >= -1e-15)
    assert p[0] == 0.0
    assert p[-1] == pytest.approx(1.0)


def test_monotonicity_holds_through_the_position_api(models: Models) -> None:
    # Given positions differing only in health factor, then only in volatility
    by_hf = score_positions([eth_position(h, horizon_hours=168) for h in (1.05, 1.2, 1.5, 2.0)], models.risk)
    by_vol = score_positions(
        [eth_position(1.3, horizon_hours=168, volatility=v) for v in (0.2, 0.5, 0.9, 1.5)], models.risk
    )
    # Then risk falls with HF and rises with volatility
    assert [f.probability for f in by_hf] == sorted((f.probability for f in by_hf), reverse=True)
    assert [f.probability for f in by_vol] == sorted(f.probability for f in by_vol)
    assert by_hf[0].probability > by_hf[-1].probability
    assert by_vol[-1].probability > by_vol[0].probability


def test_single_asset_position_reports_the_closed_form_and_distance(models: Models) -> None:
    # Given 1 WETH (LT 0.8) against USDC at HF 1.25
    forecast = score_positions([eth_position(1.25, horizon_hours=168, volatility=0.6)], models.risk)[0]
    # Then the distance to liquidation is a 20 % price drop and the reference is exact
    assert forecast.health_factor == pytest.approx(1.25, rel=1e-6)
    assert forecast.distance_to_liquidation == pytest.approx(0.2, rel=1e-5)
    assert forecast.reference_probability == pytest.approx(0.00807, abs=2e-4)
    # And the model stays within a few points of the reference
    assert abs(forecast.probability - forecast.reference_probability) < 0.05


def test_model_tracks_monte_carlo_for_correlated_collateral(models: Models) -> None:
    # Given WETH + LINK collateral against USDC at HF 1.15 over a week
    request = RiskRequest(
        collateral=[
            Collateral(
                symbol="WETH", amount=10**18, decimals=18, price_usd=Decimal(3000), liquidation_threshold=Decimal("0.8")
            ),
            Collateral(
                symbol="LINK",
                amount=100 * 10**18,
                decimals=18,
                price_usd=Decimal(15),
                liquidation_threshold=Decimal("0.7"),
            ),
        ],
        debt=[Holding(symbol="USDC", amount=int((2400 + 1050) / 1.15 * 10**6), decimals=6, price_usd=Decimal(1))],
        horizon_hours=168,
    )
    forecast = score_positions([request], models.risk)[0]
    market = models.risk.market
    cov = market.covariance(["LINK", "WETH"])
    mc = monte_carlo_probability([1050.0, 2400.0], [0.0, 0.0], 0.0, 3450 / 1.15, cov, 168, paths=20_000)
    # Then no closed form is claimed, and the model is within 0.1 of the reference
    assert forecast.reference_probability is None
    assert abs(forecast.probability - mc) < 0.1


def test_edge_positions(models: Models) -> None:
    # Given a position without debt, one already liquidatable, and one fully stable
    no_debt = RiskRequest(
        collateral=[
            Collateral(
                symbol="ETH", amount=10**18, decimals=18, price_usd=Decimal(3000), liquidation_threshold=Decimal("0.8")
            )
        ]
    )
    under = eth_position(0.95)
    stable = RiskRequest(
        collateral=[
            Collateral(
                symbol="USDC", amount=2 * 10**6, decimals=6, price_usd=Decimal(1), liquidation_threshold=Decimal("0.9")
            )
        ],
        debt=[Holding(symbol="DAI", amount=10**18, decimals=18, price_usd=Decimal(1))],
    )
    free, liquidatable, flat = score_positions([no_debt, under, stable], models.risk)
    assert free.health_factor is None
    assert free.probability == 0.0
    assert free.band == "low"
    assert liquidatable.probability == 1.0
    assert liquidatable.band == "critical"
    assert liquidatable.distance_to_liquidation == 0.0
    assert flat.probability == 0.0
    assert flat.distance_to_liquidation == 1.0


def test_bands_follow_the_documented_thresholds() -> None:
    assert band(0.001, 0.5) == "low"
    assert band(0.02, 0.5) == "medium"
    assert band(0.07, 0.5) == "high"
    assert band(0.25, 0.5) == "critical"
    # the distance criterion can only make things worse
    assert band(0.001, 0.02) == "critical"
    assert band(0.001, 0.15) == "medium"


def test_unknown_asset_is_a_clear_domain_error(models: Models) -> None:
    request = RiskRequest(
        collateral=[
            Collateral(symbol="NOPE", amount=1, decimals=0, price_usd=Decimal(1), liquidation_threshold=Decimal("0.5"))
        ],
        debt=[Holding(symbol="USDC", amount=1, decimals=6, price_usd=Decimal(1))],
    )
    with pytest.raises(UnknownAsset) as raised:
        score_positions([request], models.risk)
    assert raised.value.to_problem()["asset"] == "NOPE"
    assert raised.value.status == 422


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"horizon_hours": 0}, "horizon_hours"),
        ({"horizon_hours": 721}, "horizon_hours"),
        ({"collateral": []}, "collateral"),
    ],
)
def test_invalid_requests_are_rejected_by_the_payload(change: dict[str, object], field: str) -> None:
    base = eth_position(1.5).model_dump()
    base.update(change)
    with pytest.raises(ValidationError) as raised:
        RiskRequest.model_validate(base)
    assert raised.value.errors()[0]["loc"][0] == field


def test_negative_amount_and_bad_threshold_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Holding(symbol="USDC", amount=-1, decimals=6, price_usd=Decimal(1))
    with pytest.raises(ValidationError):
        Collateral(symbol="WETH", amount=1, decimals=18, price_usd=Decimal(1), liquidation_threshold=Decimal("1.2"))


def test_same_asset_on_both_sides_has_no_price_risk(models: Models) -> None:
    # Given a wstETH-style loop: WETH collateral against WETH debt (HF 1.1)
    request = RiskRequest(
        collateral=[
            Collateral(
                symbol="WETH", amount=10**18, decimals=18, price_usd=Decimal(3000), liquidation_threshold=Decimal("0.8")
            )
        ],
        debt=[Holding(symbol="ETH", amount=int(0.8 / 1.1 * 10**18), decimals=18, price_usd=Decimal(3000))],
        horizon_hours=168,
    )
    # When scored
    (forecast,) = score_positions([request], models.risk)
    # Then the HF cannot move with the ETH price: no liquidation probability from price moves
    assert forecast.health_factor == pytest.approx(1.1, rel=1e-6)
    assert forecast.probability == 0.0
    assert forecast.reference_probability == 0.0


def test_volatile_debt_against_stable_collateral_uses_the_upper_barrier(models: Models) -> None:
    # Given USDC collateral (LT 0.8) against WETH debt at HF 1.25
    request = RiskRequest(
        collateral=[
            Collateral(
                symbol="USDC",
                amount=3750 * 10**6,
                decimals=6,
                price_usd=Decimal(1),
                liquidation_threshold=Decimal("0.8"),
            )
        ],
        debt=[Holding(symbol="WETH", amount=10**18, decimals=18, price_usd=Decimal(2400))],
        horizon_hours=168,
        volatility={"WETH": 0.6},
    )
    (forecast,) = score_positions([request], models.risk)
    # Then the closed form is the first passage of a 25 % price rise
    assert forecast.reference_probability == pytest.approx(0.00645, abs=2e-4)
    assert forecast.distance_to_liquidation == 1.0  # no collateral drop can liquidate it
    assert forecast.probability > 0.0
