"""History cleaning and volatility/correlation estimation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tidewatch.forecast.assets import FALLBACK_VOLATILITY
from tidewatch.forecast.errors import UnknownAsset
from tidewatch.forecast.history import (
    MAX_FILL_HOURS,
    HourlySeries,
    load_csv_folder,
    rate_history_from_rows,
    to_hourly,
    to_hourly_many,
)
from tidewatch.forecast.market import FALLBACK_PARAMS, estimate_market_params
from training.scenarios import generated_history

H = 3600


def test_hourly_grid_keeps_the_last_observation_and_fills_only_short_gaps() -> None:
    # Given two observations in hour 0, then hour 1, then a 10-hour silence
    series = to_hourly([10, 20, H + 5, 12 * H], [1.0, 2.0, 3.0, 4.0])
    # Then hour 0 holds the later value, hours 2-7 carry 3.0 forward, 8-11 are missing
    assert series.values[0] == 2.0
    assert series.values[1] == 3.0
    assert np.all(series.values[2:8] == 3.0)
    assert np.all(np.isnan(series.values[8:12]))
    assert series.values[12] == 4.0


def reference_hourly(seconds: NDArray[np.float64], values: NDArray[np.float64]) -> HourlySeries:
    """One column on its own: drop missing readings, sort, floor, last per hour, fill short gaps."""
    keep = np.isfinite(seconds) & np.isfinite(values)
    ts, vals = seconds[keep], values[keep]
    if ts.size == 0:
        return HourlySeries(0, np.empty(0))
    order = np.argsort(ts, kind="stable")
    hours = (ts[order] // H).astype(np.int64)
    grid = np.full(int(hours[-1] - hours[0]) + 1, np.nan)
    for hour, value in zip(hours - hours[0], vals[order], strict=True):
        grid[hour] = value
    out = grid.copy()
    for i in range(grid.size):
        if np.isnan(grid[i]):
            back = [j for j in range(max(i - MAX_FILL_HOURS, 0), i) if np.isfinite(grid[j])]
            out[i] = grid[back[-1]] if back else np.nan
    return HourlySeries(int(hours[0]), out)


@settings(max_examples=200, deadline=None)
@given(
    hours=st.lists(st.integers(0, 40), min_size=0, max_size=40),
    shuffle=st.booleans(),
    holes=st.lists(st.integers(0, 39), max_size=8),
    seed=st.integers(0, 1000),
)
def test_several_columns_at_once_are_each_columns_hourly_grid(
    hours: list[int], shuffle: bool, holes: list[int], seed: int
) -> None:
    # Given readings at arbitrary hours (repeats, gaps, out of order, missing times and values)
    rng = np.random.default_rng(seed)
    seconds = np.asarray(hours, dtype=np.float64) * H + rng.integers(0, H, len(hours))
    if shuffle:
        rng.shuffle(seconds)
    columns = [rng.normal(size=len(hours)) for _ in range(3)]
    for i in holes:
        if i < len(hours):
            columns[i % 3][i] = np.nan
            if i % 5 == 0:
                seconds[i] = np.nan
    # When the columns are put on the hourly grid together
    together = to_hourly_many(seconds, columns)
    # Then each equals the column put on the grid on its own
    for series, column in zip(together, columns, strict=True):
        expected = reference_hourly(seconds, column)
        assert series.start_hour == expected.start_hour
        np.testing.assert_array_equal(series.values, expected.values)


def test_one_reading_an_hour_is_already_the_grid() -> None:
    # Given a reading in every hour, none missing
    seconds = np.arange(5, dtype=np.float64) * H + 7
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # When put on the grid, Then the values are the grid and the input is not shared
    (series,) = to_hourly_many(seconds, (values,))
    np.testing.assert_array_equal(series.values, values)
    series.values[0] = 9.0
    assert values[0] == 1.0


def test_rate_cleaning_rules() -> None:
    # Given a launch hour with dust deposits and a zero borrow rate while borrowed
    rates = rate_history_from_rows(
        "m",
        seconds=[0, H, 2 * H],
        supply_apy=[0.7, 0.03, 0.031],
        borrow_apy=[0.9, 0.0, 0.05],
        deposits_usd=[10_000.0, 5e6, 5e6],
        borrows_usd=[5_000.0, 4e6, 4e6],
    )
    # Then the dust hour is dropped, the zero borrow rate is not a rate (the borrow series starts
    # after it), and utilisation is derived from the balances
    assert rates.supply.start_hour == 1
    assert rates.supply.values.tolist() == [0.03, 0.031]
    assert rates.borrow.start_hour == 2
    assert rates.borrow.values.tolist() == [0.05]
    assert rates.utilization.values[0] == pytest.approx(0.8)


def test_eth_ratio_prices_become_usd(tmp_path: Path) -> None:
    # Given WETH in USD and cbETH quoted as an ETH exchange rate
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "WETH.csv").write_text("symbol,timestamp,usd_price\nWETH,0,2000\nWETH,3600,2100\n")
    (tmp_path / "prices" / "cbETH.csv").write_text("symbol,timestamp,usd_price\ncbETH,0,1.05\ncbETH,3600,1.05\n")
    history = load_csv_folder(tmp_path)
    # Then cbETH is priced in USD through WETH, hour by hour
    assert history.prices["CBETH"].values.tolist() == pytest.approx([2100.0, 2205.0])


def test_volatility_and_correlation_are_recovered_from_generated_paths() -> None:
    # Given 2,000 hours of GBM at 60 % / 50 % / 90 % with 0.7 correlation
    history = generated_history(2_000, seed=21)
    params = estimate_market_params(history.prices, window_hours=2_000, halflife_hours=10_000)
    # Then the estimates are close to the truth
    assert params.vol("WETH") == pytest.approx(0.6, rel=0.1)
    assert params.vol("LINK") == pytest.approx(0.9, rel=0.1)
    assert params.corr("WETH", "WBTC") == pytest.approx(0.7, abs=0.06)


def test_short_history_uses_the_documented_fallbacks() -> None:
    # Given only 40 hours of WETH prices
    short = {"WETH": HourlySeries(0, 3000 * np.exp(np.cumsum(np.full(40, 0.001))))}
    params = estimate_market_params(short)
    # Then WETH falls back to the table, as does any pair
    assert params.vol("WETH") == FALLBACK_VOLATILITY["WETH"]
    assert params.corr("WETH", "WBTC") == pytest.approx(0.80)
    assert params.corr("WETH", "WSTETH") == pytest.approx(0.98)
    assert params.vol("USDC") == 0.0
    with pytest.raises(UnknownAsset):
        FALLBACK_PARAMS.vol("NOTATOKEN")
