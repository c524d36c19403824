"""APY forecasts: features, inference on caller-given history, and input errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from risk.deps import Models
from tidewatch.forecast.apy_model import (
    APY_FEATURES,
    ApyHead,
    apy_feature_matrix,
    forecast_apy,
    history_hours,
    market_key_from_name,
)
from tidewatch.forecast.errors import UnknownMarket
from tidewatch.forecast.payloads import ApyForecastRequest, RateObservation
from tidewatch.forecast.trees import TreeEnsemble

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def history(values: list[float], utilization: float = 0.8) -> list[RateObservation]:
    start = NOW - timedelta(hours=len(values) - 1)
    return [
        RateObservation(
            observed_at=start + timedelta(hours=i), supply_apy=v, borrow_apy=v * 1.3, utilization=utilization
        )
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
    assert row["kink_distance"] == pytest.approx(0.5 - 0.8)
    assert row["tvl_flow_24h"] == 0.0  # no deposits given


def test_tvl_flows_and_time_since_a_large_move() -> None:
    # Given a flat 3 % series that jumped to 5 % 29 hours before its last hour, while deposits doubled over 24 h
    y = np.array([0.03] * 170 + [0.05] * 30)
    deposits = np.concatenate([np.full(176, 1e8), np.full(24, 2e8)])
    row = dict(zip(APY_FEATURES, apy_feature_matrix(y, np.full(200, 0.9), deposits, kink=0.8)[-1], strict=True))
    # Then the features carry the move's age, the flow and the distance above the kink
    assert row["hours_since_large_move"] == 29
    assert row["tvl_flow_24h"] == pytest.approx(np.log(2.0))
    assert row["above_kink"] == pytest.approx(0.1)


def test_market_keys_of_the_shared_data_files() -> None:
    assert market_key_from_name("aave-v3-ethereum-USDC") == "aave-v3:1:USDC"
    assert market_key_from_name("compound-v3-ethereum-cWETHv3-WETH") == "compound-v3:1:WETH"
    assert market_key_from_name("gen-USDC") == "gen-USDC"


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


def test_too_short_history_gets_persistence_with_its_reason(models: Models) -> None:
    # Given only 10 hours of a market's history
    (forecast,) = forecast_apy([ApyForecastRequest(history=history([0.03] * 10))], models.apy)
    # Then the current value is served, says so, and nothing is NaN
    assert forecast.method == "persistence"
    assert forecast.method_reason is not None
    assert "10 h of history" in forecast.method_reason
    assert forecast.predicted_apy == pytest.approx(0.03)
    assert all(np.isfinite([forecast.lower, forecast.upper, forecast.fall_probability]))
    assert forecast.lower <= forecast.predicted_apy <= forecast.upper


def test_a_market_without_any_rate_is_refused(models: Models) -> None:
    points = [RateObservation(observed_at=NOW, supply_apy=None, borrow_apy=0.03)]
    with pytest.raises(UnknownMarket, match="no supply APY history"):
        forecast_apy([ApyForecastRequest(side="supply", history=points)], models.apy)


def test_request_needs_a_history_or_market() -> None:
    with pytest.raises(ValueError, match="market_id or history"):
        ApyForecastRequest(side="supply")


def test_markets_the_model_does_not_beat_get_persistence(models: Models) -> None:
    # Given a market the walk-forward evaluation put on persistence for supply 24 h
    head = models.apy.head("supply", 24)
    assert head.persistence_markets, "the shipped model serves persistence somewhere"
    market = sorted(head.persistence_markets)[0]
    values = [0.01 + 0.002 * np.sin(i / 9) for i in range(200)]
    requests = [
        ApyForecastRequest(side="supply", horizon_hours=24, history=history(values), market=market),
        ApyForecastRequest(side="supply", horizon_hours=24, history=history(values), market="aave-v3:1:NEWCOIN"),
    ]
    # When forecast
    fallback, modelled = forecast_apy(requests, models.apy)
    # Then that market gets its current value with the walk-forward reason; an unlisted one the model
    assert fallback.method == "persistence"
    assert fallback.predicted_apy == pytest.approx(values[-1])
    assert "did not beat persistence" in (fallback.method_reason or "")
    assert modelled.method == "model"
    assert modelled.method_reason is None
    assert fallback.market == market


def test_markets_the_rolling_mean_beat_get_the_rolling_mean(models: Models) -> None:
    # Given a market the walk-forward evaluation put on the rolling mean for supply 24 h
    head = models.apy.head("supply", 24)
    assert head.rolling_mean_markets, "the shipped model serves the rolling mean somewhere"
    market = sorted(head.rolling_mean_markets)[0]
    values = [0.04 + 0.01 * np.sin(i / 7) for i in range(600)]
    request = ApyForecastRequest(side="supply", horizon_hours=24, history=history(values), market=market)
    # When forecast
    (forecast,) = forecast_apy([request], models.apy)
    # Then it gets the mean of its last 24 hours with the walk-forward reason, inside its interval
    assert forecast.method == "rolling_mean"
    assert forecast.predicted_apy == pytest.approx(np.mean(values[-24:]))
    assert "rolling mean of the last 24 h beat the model" in (forecast.method_reason or "")
    assert forecast.lower <= forecast.predicted_apy <= forecast.upper


def test_a_thin_history_gets_persistence_even_on_a_rolling_mean_market(models: Models) -> None:
    # Given a rolling-mean market with only 10 hours of history
    market = sorted(models.apy.head("supply", 24).rolling_mean_markets)[0]
    request = ApyForecastRequest(side="supply", horizon_hours=24, history=history([0.03] * 9 + [0.05]), market=market)
    # When forecast
    (forecast,) = forecast_apy([request], models.apy)
    # Then the short-history rule wins: the current value, saying why
    assert forecast.method == "persistence"
    assert forecast.predicted_apy == pytest.approx(0.05)
    assert "of history" in (forecast.method_reason or "")


def _constant_head(change: float, **fields: object) -> ApyHead:
    """A head whose point model predicts the same normalised change everywhere."""
    return ApyHead(TreeEnsemble.constant(change), TreeEnsemble.constant(0.0), -1.0, 1.0, 0.80, **fields)  # type: ignore[arg-type]


def test_a_head_anchored_at_the_168h_mean_adds_its_change_to_that_mean() -> None:
    # Given a series that rose from 2 % to 6 % and a head anchored at its 168 h mean, predicting no change
    y = np.linspace(0.02, 0.06, 300)
    features = apy_feature_matrix(y, np.full(300, 0.5))[-1:]
    head = _constant_head(0.0, anchor="mean_168h")
    # When its point is served, as the model and as each baseline
    model = head.served_point(features)
    persistence = head.served_point(features, np.array([True]))
    rolling = head.served_point(features, rolling_mean=np.array([True]))
    # Then the model's point is the 168 h mean (not the current value); the baselines are theirs
    assert model[0] == pytest.approx(np.mean(y[-168:]))
    assert persistence[0] == pytest.approx(y[-1])
    assert rolling[0] == pytest.approx(np.mean(y[-168:]))
    assert head.predict(features)[0][0] == pytest.approx(model[0])


def test_the_shipped_7_day_borrow_head_serves_the_168h_mean_plus_its_change(models: Models) -> None:
    # Given a market whose borrow rate jumped from 3 % to 6 % two days ago
    values = [0.03 / 1.3] * 400 + [0.06 / 1.3] * 48
    head = models.apy.head("borrow", 168)
    assert head.anchor == "mean_168h"
    # When its 7-day borrow APY is forecast
    request = ApyForecastRequest(side="borrow", horizon_hours=168, history=history(values))
    (forecast,) = forecast_apy([request], models.apy)
    # Then the point is the last week's mean plus the model's change from it, not the current value plus one
    y = np.array(values) * 1.3
    features = apy_feature_matrix(y, np.full(y.size, 0.8))[-1:]
    assert forecast.method == "model"
    assert forecast.predicted_apy == pytest.approx(max(np.mean(y[-168:]) + head.predict_change(features)[0], 0.0))
    assert forecast.lower <= forecast.predicted_apy <= forecast.upper


def test_anchor_and_rolling_mean_markets_survive_the_artifact_and_old_artifacts_keep_the_current_value() -> None:
    # Given an anchored head with a rolling-mean market
    head = _constant_head(
        0.1, anchor="mean_168h", rolling_mean_markets={"aave-v3:1:USDC": "why"}, rolling_mean_feature="mean_24h"
    )
    # When it goes through JSON, and when an older artifact without those fields is read
    again = ApyHead.from_json(head.to_json())
    old = head.to_json()
    for name in ("anchor", "rolling_mean_markets", "rolling_mean_feature"):
        del old[name]
    older = ApyHead.from_json(old)
    # Then the fields come back; the old one is anchored at the current value with no rolling-mean market
    assert (again.anchor, dict(again.rolling_mean_markets), again.rolling_mean_feature) == (
        "mean_168h",
        {"aave-v3:1:USDC": "why"},
        "mean_24h",
    )
    assert (older.anchor, dict(older.rolling_mean_markets)) == ("last", {})
    bad = head.to_json() | {"anchor": "tomorrow"}
    with pytest.raises(ValueError, match="unknown APY feature"):
        ApyHead.from_json(bad)


def test_the_interval_follows_the_markets_recent_residuals(models: Models) -> None:
    # Given two markets at the same level now: one whose last weeks were calm, one that swung
    hours = 168 + 24 + 336 + 1
    calm = [0.04] * hours
    rng = np.random.default_rng(3)
    swinging = list(0.04 + 0.01 * np.sin(np.arange(hours) / 9.0) * rng.uniform(0.5, 1.5, hours))
    swinging[-30:] = [0.04] * 30
    requests = [ApyForecastRequest(side="supply", horizon_hours=24, history=history(v)) for v in (calm, swinging)]
    # When both are forecast
    quiet, moving = forecast_apy(requests, models.apy)
    # Then the market that moved gets the wider interval, both around their point
    assert moving.upper - moving.lower > quiet.upper - quiet.lower
    for f in (quiet, moving):
        assert f.lower <= f.predicted_apy <= f.upper


def test_a_short_history_uses_the_pooled_interval(models: Models) -> None:
    # Given 169 hours of history: no origin with a full lookback and a known outcome
    request = ApyForecastRequest(side="supply", horizon_hours=24, history=history([0.04] * 169))
    # When forecast
    (forecast,) = forecast_apy([request], models.apy)
    head = models.apy.head("supply", 24)
    # Then the interval is the head's pooled conformal one
    point = forecast.predicted_apy
    w = 0.05 * np.sqrt(0.04)
    assert forecast.lower == pytest.approx(max(point + head.residual_low * w, 0.0))
    assert forecast.upper == pytest.approx(point + head.residual_high * w)


def test_the_7_day_interval_widens_after_the_market_turned_volatile(models: Models) -> None:
    # Given two markets at the same level now with six weeks of matured 7-day outcomes: one calm,
    # one whose rate swung through those weeks (the shipped head's adaptive conformal level)
    hours = history_hours(168)
    calm = [0.04] * hours
    rng = np.random.default_rng(5)
    swinging = list(0.04 + 0.012 * np.sin(np.arange(hours) / 17.0) * rng.uniform(0.5, 1.5, hours))
    swinging[-30:] = [0.04] * 30
    requests = [ApyForecastRequest(side="supply", horizon_hours=168, history=history(v)) for v in (calm, swinging)]
    # When both are forecast
    quiet, moving = forecast_apy(requests, models.apy)
    # Then the market that moved gets the wider interval, both around their point
    assert moving.upper - moving.lower > quiet.upper - quiet.lower
    for f in (quiet, moving):
        assert f.lower <= f.predicted_apy <= f.upper
