"""Generated market history for tests, benchmarks and demos: clearly not real data.

Prices are correlated GBM paths with hourly steps; rates are mean-reverting series driven by a
utilisation process (a kinked interest-rate curve like Aave's). Everything produced here is
labelled "generated" in model cards.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tidewatch.forecast.assets import HOURS_PER_YEAR
from tidewatch.forecast.history import HourlyHistory, HourlySeries, RateHistory

GENERATED_SOURCE = "generated scenarios (training.scenarios)"
START_HOUR = 473_000  # 2023-12-16


def generated_history(
    hours: int = 2_000,
    *,
    seed: int = 3,
    volatility: dict[str, float] | None = None,
    markets: tuple[str, ...] = ("gen-USDC", "gen-WETH"),
) -> HourlyHistory:
    rng = np.random.default_rng(seed)
    vols = volatility or {"WETH": 0.6, "WBTC": 0.5, "LINK": 0.9}
    symbols = list(vols)
    corr = np.full((len(symbols), len(symbols)), 0.7)
    np.fill_diagonal(corr, 1.0)
    sig = np.array([vols[s] for s in symbols])
    cov = corr * np.outer(sig, sig) / HOURS_PER_YEAR
    steps = rng.multivariate_normal(-0.5 * np.diag(cov), cov, size=hours - 1)
    log_paths = np.vstack([np.zeros(len(symbols)), np.cumsum(steps, axis=0)])
    start_price = {"WETH": 3000.0, "WBTC": 60000.0, "LINK": 15.0}
    prices = {
        s: HourlySeries(START_HOUR, start_price.get(s, 10.0) * np.exp(log_paths[:, i])) for i, s in enumerate(symbols)
    }
    rates = []
    for m, name in enumerate(markets):
        util = np.empty(hours)
        util[0] = 0.6 + 0.1 * m
        for t in range(1, hours):
            util[t] = np.clip(util[t - 1] + 0.02 * (0.7 - util[t - 1]) + rng.normal(0, 0.01), 0.05, 0.99)
        borrow = np.where(util < 0.9, 0.005 + 0.06 * util / 0.9, 0.065 + 1.0 * (util - 0.9) / 0.1)
        supply = borrow * util * 0.9
        rates.append(
            RateHistory(
                market=name,
                supply=HourlySeries(START_HOUR, supply),
                borrow=HourlySeries(START_HOUR, borrow),
                utilization=HourlySeries(START_HOUR, util),
            )
        )
    return HourlyHistory(prices=prices, rates=rates, source=GENERATED_SOURCE)


def write_csv_folder(history: HourlyHistory, folder: str | Path) -> Path:
    """Write `history` in the shared-data CSV format (rates in percent, deposits 10 M USD)."""
    root = Path(folder)
    (root / "rates").mkdir(parents=True, exist_ok=True)
    (root / "prices").mkdir(parents=True, exist_ok=True)
    for symbol, series in history.prices.items():
        with (root / "prices" / f"{symbol}.csv").open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["symbol", "timestamp", "usd_price"])
            for i, price in enumerate(series.values):
                out.writerow([symbol, (series.start_hour + i) * 3600 + 60, repr(float(price))])
    for rates in history.rates:
        with (root / "rates" / f"{rates.market}.csv").open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(
                [
                    "blockNumber",
                    "timestamp",
                    "totalDepositBalanceUSD",
                    "totalBorrowBalanceUSD",
                    "totalValueLockedUSD",
                    "lenderRate",
                    "borrowRate",
                ]
            )
            for i in range(rates.supply.values.size):
                deposits = 10_000_000.0
                out.writerow(
                    [
                        19_000_000 + i * 300,
                        (rates.supply.start_hour + i) * 3600 + 120,
                        deposits,
                        deposits * rates.utilization.values[i],
                        deposits,
                        100.0 * rates.supply.values[i],
                        100.0 * rates.borrow.values[i],
                    ]
                )
    return root
