"""The columnar history form of an APY forecast request (`history_columns`): the same forecast as
the same readings sent as `history` points, and bad columns answered as invalid events."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from risk.deps import Models, RiskDeps
from risk.handler import handle
from tests.unit.forecast.test_apy_serving_equality import fixture_histories
from tidewatch.forecast.apy_model import columns_from_lists, columns_from_points, forecast_apy
from tidewatch.forecast.payloads import (
    MAX_HISTORY_SPAN_HOURS,
    ApyForecastRequest,
    RateHistoryColumns,
    RateObservation,
)

EVENTS = Path(__file__).resolve().parents[3] / "events" / "risk"
READINGS = ("supply_apy", "borrow_apy", "utilization", "deposits_usd")


def as_columns(points: Sequence[RateObservation]) -> dict[str, list[Any]]:
    """The points' readings as the JSON columns a caller sends (null where not given)."""
    columns: dict[str, list[Any]] = {"observed_at": [p.observed_at.timestamp() for p in points]}
    for name in READINGS:
        columns[name] = [getattr(p, name) for p in points]
    return columns


def shuffled_with_repeats(points: list[RateObservation], seed: int) -> list[RateObservation]:
    """The points out of time order, with readings repeated at the same second and extra readings
    in hours that already have one (the last one given in an hour wins)."""
    rng = np.random.default_rng(seed)
    extra = [
        p.model_copy(update={"supply_apy": None if k % 4 == 0 else (p.supply_apy or 0.0) * 1.1})
        for k, p in enumerate(points[:: max(1, len(points) // 40)])
    ]
    out = points + extra
    return [out[i] for i in rng.permutation(len(out))]


def histories() -> list[list[RateObservation]]:
    fixtures = fixture_histories()
    return fixtures + [shuffled_with_repeats(points, seed) for seed, points in enumerate(fixtures)]


def test_columns_forecast_exactly_like_the_same_points(models: Models) -> None:
    # Given every fixture market (nulls, gaps, minutes off the hour, several readings an hour),
    # and each again out of order with repeated seconds and hours, as points and as columns
    pairs = []
    for k, points in enumerate(histories()):
        market = None if k % 3 else "aave-v3:1:USDC"
        for side in ("supply", "borrow"):
            for horizon in (24, 168):
                common: dict[str, Any] = {"side": side, "horizon_hours": horizon, "market": market}
                pairs.append(
                    (
                        ApyForecastRequest(**common, history=points),
                        ApyForecastRequest.model_validate(common | {"history_columns": as_columns(points)}),
                    )
                )
    # When each is forecast from nothing remembered, one by one and as one batch
    by_form = []
    for form in (0, 1):
        requests = [pair[form] for pair in pairs]
        for head in models.apy.heads.values():
            head.forget_changes()
        by_form.append([forecast_apy([r], models.apy)[0] for r in requests] + forecast_apy(requests, models.apy))
    # Then the arrays read are the same and every field of every forecast is the same number
    for points_request, columns_request in pairs:
        assert points_request.history is not None
        assert columns_request.history_columns is not None
        want = columns_from_points(points_request.history)
        got = columns_from_lists(columns_request.history_columns)
        for name in ("seconds", *READINGS):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    points_forecasts, column_forecasts = by_form
    assert len(column_forecasts) == len(points_forecasts) == 2 * len(pairs)
    assert {f.horizon_hours for f in column_forecasts} == {24, 168}
    for a, b in zip(column_forecasts, points_forecasts, strict=True):
        assert a.model_dump() == b.model_dump()


def test_whole_seconds_and_left_out_columns_read_like_the_points(models: Models) -> None:
    # Given on-the-hour readings with integer unix seconds, only the supply APY column sent
    points = fixture_histories()[6]
    sent = {
        "observed_at": [int(p.observed_at.timestamp()) for p in points],
        "supply_apy": [p.supply_apy for p in points],
    }
    bare = [RateObservation(observed_at=p.observed_at, supply_apy=p.supply_apy) for p in points]
    # When forecast both ways for the 7-day head
    columns = ApyForecastRequest(horizon_hours=168, history_columns=RateHistoryColumns.model_validate(sent))
    listed = ApyForecastRequest(horizon_hours=168, history=bare)
    # Then the left-out columns are all missing and the forecasts agree
    assert columns.history_columns is not None
    read = columns_from_lists(columns.history_columns)
    assert np.isnan(read.borrow_apy).all()
    assert np.isnan(read.deposits_usd).all()
    assert forecast_apy([columns], models.apy)[0] == forecast_apy([listed], models.apy)[0]


def call(event: dict[str, Any], models: Models) -> dict[str, Any]:
    return handle(event, RiskDeps(models, None))


def columns_event(columns: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {
        "action": "forecast_apy",
        "request": {"side": "supply", "horizon_hours": 24} | request | {"history_columns": columns},
    }


def good_columns(n: int = 48) -> dict[str, list[Any]]:
    return {
        "observed_at": [1_714_521_600 + 3600 * i for i in range(n)],
        "supply_apy": [0.035 + 0.0001 * (i % 7) for i in range(n)],
        "borrow_apy": [0.05] * n,
        "utilization": [0.8] * n,
        "deposits_usd": [1e8] * n,
    }


def test_the_sample_columns_event_forecasts_like_the_points_event(models: Models) -> None:
    # Given the sample forecast_apy events, the same readings as points and as columns
    points = json.loads((EVENTS / "forecast_apy.json").read_text())
    columns = json.loads((EVENTS / "forecast_apy_columns.json").read_text())
    # When handled, Then both are answered with the same forecast
    a, b = call(points, models), call(columns, models)
    assert a["ok"] is True
    assert b["ok"] is True
    assert a["result"] == b["result"]


def test_a_batch_mixes_columns_and_points(models: Models) -> None:
    # Given a batch of one columns request and one points request of the same readings
    columns = good_columns(200)
    points = [
        {"observed_at": t, **{name: columns[name][i] for name in READINGS}}
        for i, t in enumerate(columns["observed_at"])
    ]
    base = {"side": "borrow", "horizon_hours": 24}
    event = {
        "action": "forecast_apy_batch",
        "requests": [base | {"history_columns": columns}, base | {"history": points}],
    }
    # When handled, Then both are forecast, alike
    response = call(event, models)
    assert response["ok"] is True, response
    first, second = response["result"]["forecasts"]
    assert first == second
    assert response["result"]["errors"] == []


def refused(event: dict[str, Any], models: Models) -> list[dict[str, str]]:
    """The field errors of an event answered as invalid (422 envelope, no traceback)."""
    response = call(event, models)
    assert response["ok"] is False, response
    error = response["error"]
    assert error["status"] == 422
    assert error["title"]
    assert "Traceback" not in json.dumps(response)
    return list(error["errors"])


def with_entry(name: str, value: Any, n: int = 48) -> dict[str, list[Any]]:
    columns = good_columns(n)
    columns[name][n // 2] = value
    return columns


@pytest.mark.parametrize("name", ["borrow_apy", "utilization", "deposits_usd", "supply_apy"])
def test_a_column_of_another_length_is_refused_by_name(models: Models, name: str) -> None:
    # Given a column with one entry fewer than observed_at
    columns = good_columns()
    columns[name] = columns[name][:-1]
    # When handled, Then the error names that column and both lengths
    errors = refused(columns_event(columns), models)
    assert [e["field"] for e in errors] == [f"forecast_apy.request.history_columns.{name}"]
    assert f"{name} has 47 entries, observed_at has 48" in errors[0]["message"]


def test_history_and_history_columns_together_are_refused(models: Models) -> None:
    # Given both forms in one request
    event = columns_event(good_columns(), history=[{"observed_at": "2024-05-01T00:00:00+00:00", "supply_apy": 0.03}])
    # When handled, Then it is refused with the reason
    errors = refused(event, models)
    assert errors[0]["field"] == "forecast_apy.request"
    assert "not both" in errors[0]["message"]


def test_no_history_form_and_no_market_is_refused(models: Models) -> None:
    errors = refused({"action": "forecast_apy", "request": {"side": "supply"}}, models)
    assert "give market_id or history (as points or as history_columns)" in errors[0]["message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("supply_apy", math.nan),
        ("borrow_apy", math.inf),
        ("deposits_usd", math.inf),
        ("deposits_usd", -math.inf),
        ("utilization", math.nan),
        ("observed_at", math.nan),
        ("observed_at", math.inf),
    ],
)
def test_nan_and_infinity_are_refused(models: Models, name: str, value: float) -> None:
    errors = refused(columns_event(with_entry(name, value)), models)
    assert errors[0]["field"] == f"forecast_apy.request.history_columns.{name}.24"
    assert "finite number" in errors[0]["message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("observed_at", -1),
        ("supply_apy", -0.01),
        ("borrow_apy", -1e-9),
        ("utilization", -0.5),
        ("deposits_usd", -1.0),
        ("supply_apy", 100.5),
        ("utilization", 1.6),
        ("observed_at", 1e15),  # past the year 9999
    ],
)
def test_values_out_of_bounds_are_refused(models: Models, name: str, value: float) -> None:
    errors = refused(columns_event(with_entry(name, value)), models)
    assert errors[0]["field"] == f"forecast_apy.request.history_columns.{name}.24"
    assert "greater than or equal" in errors[0]["message"] or "less than or equal" in errors[0]["message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("supply_apy", "0.03"), ("utilization", True), ("observed_at", "2024-05-01T00:00:00Z"), ("observed_at", None)],
)
def test_what_is_not_a_number_is_refused(models: Models, name: str, value: Any) -> None:
    errors = refused(columns_event(with_entry(name, value)), models)
    assert errors[0]["field"] == f"forecast_apy.request.history_columns.{name}.24"


def test_more_than_5000_readings_are_refused(models: Models) -> None:
    # Given 5,001 readings (and, separately, 5,000 times with a 5,001-entry column)
    too_many = refused(columns_event(good_columns(5_001)), models)
    longer_column = good_columns(5_000)
    longer_column["utilization"].append(0.8)
    too_long = refused(columns_event(longer_column), models)
    # Then each is refused at the column, and 5,000 readings are accepted
    assert {e["field"] for e in too_many} == {
        f"forecast_apy.request.history_columns.{name}" for name in ("observed_at", *READINGS)
    }
    assert "at most 5000" in too_many[0]["message"]
    assert [e["field"] for e in too_long] == ["forecast_apy.request.history_columns.utilization"]
    assert call(columns_event(good_columns(5_000)), models)["ok"] is True


def test_unknown_and_empty_columns_are_refused(models: Models) -> None:
    extra = refused(columns_event(good_columns() | {"tvl_usd": [1.0] * 48}), models)
    assert extra[0]["field"] == "forecast_apy.request.history_columns.tvl_usd"
    empty = refused(columns_event({"observed_at": [], "supply_apy": []}), models)
    assert empty[0]["field"] == "forecast_apy.request.history_columns.observed_at"
    no_times = refused(columns_event({"supply_apy": [0.03]}), models)
    assert no_times[0]["field"] == "forecast_apy.request.history_columns.observed_at"


def test_readings_spanning_more_than_ten_years_are_refused(models: Models) -> None:
    # Given two readings 8,000 years apart (an hourly grid of gigabytes), and ten years apart
    far = columns_event({"observed_at": [0, 253_402_300_799], "supply_apy": [0.03, 0.03]})
    columns = good_columns()
    columns["observed_at"][0] = columns["observed_at"][-1] - MAX_HISTORY_SPAN_HOURS * 3600
    # When handled, Then the first is refused at observed_at and the second is forecast
    errors = refused(far, models)
    assert errors[0]["field"] == "forecast_apy.request.history_columns.observed_at"
    assert "at most 87,660 (ten years)" in errors[0]["message"]
    assert call(columns_event(columns), models)["ok"] is True


def test_points_spanning_more_than_ten_years_are_refused(models: Models) -> None:
    # Given two points in the years 1 and 9999 (an hourly grid of gigabytes), and points ten
    # years apart
    def points(first: str, last: str) -> dict[str, Any]:
        return {
            "action": "forecast_apy",
            "request": {
                "side": "supply",
                "history": [{"observed_at": first, "supply_apy": 0.03}, {"observed_at": last, "supply_apy": 0.03}],
            },
        }

    # When handled, Then the first is refused at history, naming the years, and the second is answered
    errors = refused(points("0001-01-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00"), models)
    assert errors[0]["field"] == "forecast_apy.request.history"
    assert "the years 1 to 9999; at most ten years" in errors[0]["message"]
    assert call(points("2014-05-01T00:00:00+00:00", "2024-05-01T00:00:00+00:00"), models)["ok"] is True
