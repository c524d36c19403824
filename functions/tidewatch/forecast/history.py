"""Price and market-rate history on an hourly grid, from a folder of CSVs or from rows.

The CSV format is the one of the shared data set (`rates/*.csv`, `prices/*.csv`, see
docs/models.md). Cleaning rules, applied identically to CSV and Postgres rows:

* rows with an empty rate, or while the market held less than `MIN_DEPOSITS_USD`, are dropped
  (launch periods publish meaningless rates on dust deposits);
* a zero borrow rate while something is borrowed is a gap in the source, not a rate: missing;
* rates arrive in percent per year (CSV) and are kept as fractions per year (0.035 = 3.5 %);
* observations are floored to the hour (the last one in an hour wins) and carried forward over
  gaps of up to `MAX_FILL_HOURS`; longer gaps stay missing (NaN);
* liquid-staking prices quoted as an ETH ratio (median below 10) are turned into USD with the
  WETH price of the same hour.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tidewatch.errors import InvalidInput
from tidewatch.forecast.assets import ETH_FAMILY, canonical

MIN_DEPOSITS_USD = 1_000_000.0
MAX_FILL_HOURS = 6


class HistoryUnavailable(InvalidInput):
    """The history folder or table is missing, empty or not in the expected format."""

    type_slug = "history-unavailable"
    title = "History unavailable"


@dataclass(frozen=True)
class HourlySeries:
    """Values on a contiguous hourly grid starting at `start_hour` (unix hours); NaN = missing."""

    start_hour: int
    values: NDArray[np.float64]

    @property
    def end_hour(self) -> int:
        return self.start_hour + len(self.values) - 1


@dataclass(frozen=True)
class RateHistory:
    market: str
    supply: HourlySeries
    borrow: HourlySeries
    utilization: HourlySeries
    deposits: HourlySeries | None = None  # total supplied in USD (TVL), when known


@dataclass
class HourlyHistory:
    """Hourly price and rate series of many markets, the training and scenario input (the API's
    history of one market is `tidewatch.markets.models.MarketHistory`)."""

    prices: dict[str, HourlySeries] = field(default_factory=dict)
    rates: list[RateHistory] = field(default_factory=list)
    source: str = ""

    def window(self, of: str = "all") -> tuple[int, int]:
        """First and last hour covered by any series (unix hours); `of` = all | prices | rates."""
        series = ([] if of == "rates" else list(self.prices.values())) + (
            [] if of == "prices" else [r.supply for r in self.rates]
        )
        if not series:
            raise HistoryUnavailable("no series in history")
        return min(s.start_hour for s in series), max(s.end_hour for s in series)


def to_hourly(
    seconds: Sequence[float] | NDArray[np.float64], values: Sequence[float] | NDArray[np.float64]
) -> HourlySeries:
    """Floor observations to the hour, keep the last per hour, carry forward short gaps."""
    return to_hourly_many(seconds, (values,))[0]


def to_hourly_many(
    seconds: Sequence[float] | NDArray[np.float64], columns: Sequence[Sequence[float] | NDArray[np.float64]]
) -> tuple[HourlySeries, ...]:
    """`to_hourly(seconds, column)` for each of several columns read at the same times: the
    times are ordered and floored once (not at all when they arrive in order, as stored rows do)."""
    ts = np.asarray(seconds, dtype=np.float64)
    finite_ts = np.isfinite(ts)
    in_order = ts.size < 2 or bool(np.all(ts[1:] >= ts[:-1]))  # False where a NaN breaks it
    order = None if in_order else np.argsort(ts, kind="stable")  # stable: the last reading of an hour wins
    if order is not None:
        ts, finite_ts = ts[order], finite_ts[order]
    hours = (np.where(finite_ts, ts, 0.0) // 3600).astype(np.int64)
    # One reading in each hour, none missing (how ingest stores a market): every column whose
    # readings are all there is already its hourly grid.
    hourly = hours.size > 0 and bool(finite_ts.all()) and bool(np.all(np.diff(hours) == 1))
    out = []
    for column in columns:
        vals = np.asarray(column, dtype=np.float64)
        if order is not None:
            vals = vals[order]
        keep = finite_ts & np.isfinite(vals)
        if not keep.all():
            out.append(_hourly(hours[keep], vals[keep]))
        elif hourly:
            out.append(HourlySeries(int(hours[0]), vals.copy()))
        else:
            out.append(_hourly(hours, vals))
    return tuple(out)


def _hourly(hours: NDArray[np.int64], vals: NDArray[np.float64]) -> HourlySeries:
    """Ordered readings' hours and values on the hourly grid, short gaps carried forward."""
    if hours.size == 0:
        return HourlySeries(0, np.empty(0))
    start = int(hours[0])
    grid = np.full(int(hours[-1]) - start + 1, np.nan)
    grid[hours - start] = vals  # later observations in the same hour overwrite earlier ones
    observed = np.isfinite(grid)
    idx = np.where(observed, np.arange(grid.size), 0)
    np.maximum.accumulate(idx, out=idx)
    age = np.arange(grid.size) - idx
    filled = grid[idx]
    filled[age > MAX_FILL_HOURS] = np.nan
    return HourlySeries(start, filled)


def align(series: HourlySeries, start_hour: int, end_hour: int) -> NDArray[np.float64]:
    """The series' values on [start_hour, end_hour], NaN outside its range."""
    out = np.full(end_hour - start_hour + 1, np.nan)
    lo = max(start_hour, series.start_hour)
    hi = min(end_hour, series.end_hour)
    if hi >= lo:
        out[lo - start_hour : hi - start_hour + 1] = series.values[lo - series.start_hour : hi - series.start_hour + 1]
    return out


def _float(cell: str) -> float:
    try:
        return float(cell) if cell.strip() else float("nan")
    except ValueError:
        return float("nan")


def rate_history_from_rows(
    market: str,
    seconds: Iterable[float],
    supply_apy: Iterable[float],
    borrow_apy: Iterable[float],
    deposits_usd: Iterable[float],
    borrows_usd: Iterable[float],
    utilization: Iterable[float] | None = None,
) -> RateHistory:
    """Apply the cleaning rules to raw rows (rates as fractions per year)."""
    ts = np.asarray(list(seconds), dtype=np.float64)
    sup = np.asarray(list(supply_apy), dtype=np.float64)
    bor = np.asarray(list(borrow_apy), dtype=np.float64)
    dep = np.asarray(list(deposits_usd), dtype=np.float64)
    debt = np.asarray(list(borrows_usd), dtype=np.float64)
    live = np.isfinite(dep) & (dep >= MIN_DEPOSITS_USD) & np.isfinite(sup)
    bor = np.where((bor <= 0) & (debt > 0), np.nan, bor)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.clip(np.where(dep > 0, debt / np.where(dep > 0, dep, 1.0), np.nan), 0.0, 1.5)
    if utilization is not None:  # a stored utilisation (ingest) wins over the derived one
        given = np.asarray(list(utilization), dtype=np.float64)
        util = np.where(np.isfinite(given), np.clip(given, 0.0, 1.5), util)
    ts = ts[live]
    return RateHistory(
        market=market,
        supply=to_hourly(ts, np.clip(sup[live], 0.0, None)),
        borrow=to_hourly(ts, np.clip(bor[live], 0.0, None)),
        utilization=to_hourly(ts, util[live]),
        deposits=to_hourly(ts, np.where(np.isfinite(dep[live]), dep[live], np.nan)),
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _rates_from_csv(path: Path) -> RateHistory:
    rows = _read_csv(path)
    required = {"timestamp", "totalDepositBalanceUSD", "totalBorrowBalanceUSD", "lenderRate", "borrowRate"}
    if not rows or not required <= set(rows[0]):
        raise HistoryUnavailable(f"{path.name}: expected columns {sorted(required)}")
    return rate_history_from_rows(
        path.stem,
        (_float(r["timestamp"]) for r in rows),
        (_float(r["lenderRate"]) / 100.0 for r in rows),
        (_float(r["borrowRate"]) / 100.0 for r in rows),
        (_float(r["totalDepositBalanceUSD"]) for r in rows),
        (_float(r["totalBorrowBalanceUSD"]) for r in rows),
    )


def _prices_from_csv(path: Path) -> tuple[str, HourlySeries]:
    rows = _read_csv(path)
    if not rows or not {"symbol", "timestamp", "usd_price"} <= set(rows[0]):
        raise HistoryUnavailable(f"{path.name}: expected columns symbol, timestamp, usd_price")
    symbol = canonical(rows[0]["symbol"])
    ts = [_float(r["timestamp"]) for r in rows]
    price = np.asarray([_float(r["usd_price"]) for r in rows])
    price[price <= 0] = np.nan
    return symbol, to_hourly(ts, price)


def prices_in_usd(prices: dict[str, HourlySeries]) -> dict[str, HourlySeries]:
    """Turn liquid-staking ETH ratios (median < 10) into USD prices via WETH, hour by hour."""
    weth = prices.get("WETH")
    out = dict(prices)
    for symbol, series in prices.items():
        if symbol == "WETH" or symbol not in ETH_FAMILY or weth is None:
            continue
        if np.nanmedian(series.values) < 10.0:
            out[symbol] = HourlySeries(
                series.start_hour, series.values * align(weth, series.start_hour, series.end_hour)
            )
    return out


def load_csv_folder(folder: str | Path) -> HourlyHistory:
    """Read `rates/*.csv` and `prices/*.csv` under `folder` (either may be absent, not both)."""
    root = Path(folder)
    if not root.is_dir():
        raise HistoryUnavailable(f"data folder not found: {root}")
    rate_files = sorted((root / "rates").glob("*.csv")) if (root / "rates").is_dir() else []
    price_files = sorted((root / "prices").glob("*.csv")) if (root / "prices").is_dir() else []
    if not rate_files and not price_files:
        raise HistoryUnavailable(f"{root} has no rates/*.csv or prices/*.csv files")
    prices = dict(_prices_from_csv(p) for p in price_files)
    rates = [_rates_from_csv(p) for p in rate_files]
    return HourlyHistory(prices=prices_in_usd(prices), rates=rates, source=str(root))
