"""The asset universe of the risk model: canonical symbols, stablecoins and fallback volatilities.

Volatilities are annualised (hourly log-return standard deviation × √8766). The fallbacks apply
when an asset has less than `MIN_HISTORY_HOURS` of price history; they are rounded from the
2022-08..2024-05 hourly history in the shared data set (WETH 0.59, WBTC 0.55 over 2022-08..2023-02,
LINK 0.83, UNI 0.92, COMP 0.99) and deliberately err high for unknown long-tail tokens.
"""

from __future__ import annotations

from typing import Final

#: Assets valued at 1 USD with no volatility in the reference model. A stablecoin de-peg is a
#: different risk (documented in docs/models.md) that the liquidation model does not forecast.
STABLECOINS: Final = frozenset(
    {"USDC", "USDT", "DAI", "USDBC", "USDC.E", "GHO", "LUSD", "CRVUSD", "PYUSD", "FRAX", "USDS", "SDAI"}
)

#: Wrapped or bridged names folded onto the asset whose price history they share.
ALIASES: Final = {"ETH": "WETH", "STETH": "WSTETH", "BTC": "WBTC", "CBBTC": "WBTC", "TBTC": "WBTC"}

#: Liquid-staking tokens priced through ETH (their history in the shared data is an ETH ratio).
ETH_FAMILY: Final = frozenset({"WETH", "WSTETH", "CBETH", "RETH", "WEETH", "EZETH", "RSETH", "OSETH"})
BTC_FAMILY: Final = frozenset({"WBTC"})

FALLBACK_VOLATILITY: Final = {
    "WETH": 0.60,
    "WSTETH": 0.60,
    "CBETH": 0.60,
    "RETH": 0.60,
    "WEETH": 0.62,
    "EZETH": 0.65,
    "RSETH": 0.65,
    "OSETH": 0.62,
    "WBTC": 0.55,
    "LINK": 0.85,
    "UNI": 0.95,
    "COMP": 1.00,
    "AAVE": 0.95,
    "EIGEN": 1.20,
    "CRV": 1.10,
    "MKR": 0.90,
    "LDO": 1.10,
    "SNX": 1.10,
    "BAL": 1.00,
    "RPL": 1.00,
    "ARB": 1.00,
    "OP": 1.00,
}

#: Fallback correlations between families: within the ETH family the tokens move as one; ETH and
#: BTC correlate strongly; everything else is assumed to correlate 0.7 with ETH/BTC and with
#: each other (observed 0.62-0.80 in the shared data).
SAME_FAMILY_CORRELATION: Final = 0.98
ETH_BTC_CORRELATION: Final = 0.80
DEFAULT_CORRELATION: Final = 0.70

MIN_HISTORY_HOURS: Final = 72
HOURS_PER_YEAR: Final = 8766.0


def canonical(symbol: str) -> str:
    upper = symbol.strip().upper()
    return ALIASES.get(upper, upper)


def is_stable(symbol: str) -> bool:
    return canonical(symbol) in STABLECOINS


def family(symbol: str) -> str:
    sym = canonical(symbol)
    if sym in ETH_FAMILY:
        return "ETH"
    if sym in BTC_FAMILY:
        return "BTC"
    return sym


def fallback_correlation(a: str, b: str) -> float:
    if canonical(a) == canonical(b):
        return 1.0
    fa, fb = family(a), family(b)
    if fa == fb:
        return SAME_FAMILY_CORRELATION
    if {fa, fb} == {"ETH", "BTC"}:
        return ETH_BTC_CORRELATION
    return DEFAULT_CORRELATION
