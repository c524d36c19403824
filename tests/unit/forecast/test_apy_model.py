"""APY forecasts: features, inference on caller-given history, and input errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from risk.deps import Models
from tidewatch.forecast.apy_model import APY_FEATURES, apy_feature_matrix, forecast_apy
from tidewatch.forecast.errors import UnknownMarket
from tidewatch.forecast.payloads import ApyForecastRequest, RatePoint

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def history(values: list[float], utilization: float = 0.8) -> list[RatePoint]:
    start = NOW - timedelta(hours=len(values) - 1)
    return [
        RatePoint(observed_at=start + timedelta(hours=i), supply_apy=v, borrow_apy=v * 1.3, utilization=utilization)
        for i, v in enumerate(values)
    ]


def test_features_are_the_documented_rolling_statistics() -> None:
    # Given a linear ramp of 200 hours
    y = np.arange(200, dtype=float) / 1000
    x = apy_feature_matrix(y, np.full(200, 0.5))
    row = dict(zip(APY_FEATURES, x[-1], strict=True))
    # Then the last row holds the last value, its changes and trailing means
    assert row["last"] == pytest.approx(0.199)
    assert row["change_24h"] == pytest.approx(0.024)
    assert row["mean_24h"] == pytest.approx(np.mean(y[-24:]))
    assert row["mean_168h"] == pytest.approx(np.mean(y[-168:]))
    assert row["utilization_change_24h"] == pytest.approx(0.0)


def test_forecast_of_a_steady_market_stays_near_its_level(models: Models) -> None:
    # Given 10 days of a flat 4 % supply APY
    request = ApyForecastRequest(side="supply", horizon_hours=24, history=history([0.04] * 240))
    # When forecast
    (forecast,) = forecast_apy([request], models.apy)
    # Then the point forecast is close to 4 %, inside its interval, and labelled "stay"
    assert forecast.current_apy == pytest.approx(0.04)
    assert forecast.predicted_apy == pytest.approx(0.04, abs=0.01)
    assert forecast.lower <= forecast.predicted_apy <= forecast.upper
    assert forecast.label == "stay"
    assert forecast.interval_level == pytest.approx(0.8)


def test_a_spike_is_expected_to_fall_back(models: Models) -> None:
    # Given a week at 3 % and a sudden jump to 15 % in the last two hours
    values = [0.03] * 166 + [0.15, 0.15]
    (forecast,) = forecast_apy(
        [ApyForecastRequest(side="supply", horizon_hours=168, history=history(values))], models.apy
    )
    # Then the forecast is below the spike and more likely to fall than to stay
    assert forecast.predicted_apy < 0.15
    assert forecast.fall_probability > 0.5
    assert forecast.label == "fall"


def test_batches_mix_sides_and_horizons_in_request_order(models: Models) -> None:
    requests = [
        ApyForecastRequest(market_id=i, side=side, horizon_hours=h, history=history([0.02 + 0.01 * i] * 48))
        for i, (side, h) in enumerate([("supply", 24), ("borrow", 168), ("supply", 168), ("borrow", 24)])
    ]
    forecasts = forecast_apy(requests, models.apy)
    assert [(f.market_id, f.side, f.horizon_hours) for f in forecasts] == [
        (r.market_id, r.side, r.horizon_hours) for r in requests
    ]


def test_too_short_history_is_refused(models: Models) -> None:
    with pytest.raises(UnknownMarket):
        forecast_apy([ApyForecastRequest(history=history([0.03] * 10))], models.apy)


def test_request_needs_a_history_or_market() -> None:
    with pytest.raises(ValueError, match="market_id or history"):
        ApyForecastRequest(side="supply")


def test_a_quiet_market_is_forecast_by_persistence(models: Models) -> None:
    # Given a near-zero, perfectly flat supply APY (like WBTC supply) and a head with a quiet gate
    head = models.apy.head("supply", 24)
    assert head.gate_cv > 0
    (forecast,) = forecast_apy(
        [ApyForecastRequest(side="supply", horizon_hours=24, history=history([0.0005] * 200))], models.apy
    )
    # Then the forecast is the current value and the interval stays tight around it
    assert forecast.predicted_apy == pytest.approx(0.0005)
    assert forecast.upper - forecast.lower < 0.02
