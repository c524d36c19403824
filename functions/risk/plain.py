"""A `score_risk_batch` event read straight into columns when it is plainly valid.

Events decoded from JSON hold exact `dict`, `list`, `str`, `int` and `float` objects. When every
value of a batch has the plain type its field expects and lies in the field's range,
`plain_legs` reads the columns without a validation pass; anything else (a missing or extra key,
a bool, a numeric string outside the plain decimal form, a value out of range, a huge number)
returns None and the caller validates the event with pydantic, which then accepts it with its lax
rules or answers with its problem body. The checks are therefore at least as strict as the
pydantic schema of `risk.batch` (every event they accept, pydantic accepts with the same values;
a property test holds them to it), and malformed batches keep pydantic's error contract.
The checks are C-level maps over the leg dicts and numpy range tests on the columns; strings
and numbers are converted once per distinct value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.payloads import MAX_AMOUNT, MAX_BATCH, MAX_HORIZON_HOURS, MIN_HORIZON_HOURS

MAX_LEGS = 32
MAX_SYMBOL = 32
MAX_DECIMALS = 36
MAX_VOLATILITY = 10.0
#: Integers up to 2⁵³ convert to float exactly; larger ones go to pydantic.
EXACT_INT = 2**53
#: Numeric strings read here: plain decimals with an optional exponent (no sign, blanks,
#: underscores or non-ASCII digits; those go to pydantic).
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_POSITION_KEYS = frozenset({"position_id", "collateral", "debt", "horizon_hours", "volatility"})
_NUMBER_TYPES = frozenset({float, int})
_FLOAT_TYPES = frozenset({float, int, str})
_ID_TYPES = frozenset({str, type(None)})
_VOLATILITY_TYPES = frozenset({dict, type(None)})
_NO_DEBT: list[Any] = []
_COLLATERAL = itemgetter("collateral")
_SYMBOL = itemgetter("symbol")
_AMOUNT = itemgetter("amount")
_DECIMALS = itemgetter("decimals")
_PRICE = itemgetter("price_usd")
_THRESHOLD = itemgetter("liquidation_threshold")


@dataclass
class Legs:
    """A batch read out as columns: legs in order (every position's collateral, then every
    position's debt), numbers as float64 arrays."""

    positions: list[Any]
    collateral: list[Any]
    debt: list[Any]
    coll_legs: list[Any]
    every_leg: list[Any]
    symbols: list[str]
    amount: NDArray[np.float64]
    decimals: NDArray[np.float64]
    price: NDArray[np.float64]
    threshold: NDArray[np.float64]


def legs_of(positions: list[Any], collateral: list[Any], debt: list[Any]) -> Legs:
    """Columns of validated positions (pydantic's output)."""
    coll_legs = list(chain.from_iterable(collateral))
    every_leg = coll_legs + list(chain.from_iterable(debt))
    return _columns(
        positions,
        collateral,
        debt,
        coll_legs,
        every_leg,
        list(map(_SYMBOL, every_leg)),
        list(map(_AMOUNT, every_leg)),
        list(map(_DECIMALS, every_leg)),
        np.array(list(map(_PRICE, every_leg)), dtype=np.float64),
        np.array(list(map(_THRESHOLD, coll_legs)), dtype=np.float64),
    )


def _columns(
    positions: list[Any],
    collateral: list[Any],
    debt: list[Any],
    coll_legs: list[Any],
    every_leg: list[Any],
    symbols: list[str],
    amounts: list[int],
    decimals: list[int],
    price: NDArray[np.float64],
    threshold: NDArray[np.float64],
) -> Legs:
    """`Legs` of the batch's leg lists and columns; amounts and decimals become float64 (from
    Python ints of any size: token amounts exceed int64)."""
    return Legs(
        positions,
        collateral,
        debt,
        coll_legs,
        every_leg,
        symbols,
        np.fromiter(map(float, amounts), dtype=np.float64, count=len(amounts)),
        np.array(decimals, dtype=np.float64),
        price,
        threshold,
    )


def _types(values: list[Any]) -> set[type]:
    return set(map(type, values))


def _plain_floats(values: list[Any]) -> NDArray[np.float64] | None:
    """Finite float64 of floats, ints below 2⁵³ (not bools) and plain decimal strings; None
    when any value is of another kind."""
    kinds = _types(values)
    if not kinds <= _FLOAT_TYPES:
        return None
    if str in kinds or int in kinds:
        distinct = dict.fromkeys(values)
        for value in distinct:
            if type(value) is str:
                if _DECIMAL.fullmatch(value) is None:
                    return None
            elif type(value) is int and not -EXACT_INT < value < EXACT_INT:
                return None
            distinct[value] = float(value)
        out = np.array(list(map(distinct.__getitem__, values)), dtype=np.float64)
    else:
        out = np.array(values, dtype=np.float64)
    return out if bool(np.isfinite(out).all()) else None


def _plain_ints(values: list[Any], low: int, high: int) -> bool:
    return _types(values) <= {int} and (not values or (low <= min(values) and max(values) <= high))


def plain_legs(event: Any) -> Legs | None:
    """The batch's columns when every value is plainly valid, else None (validate with pydantic)."""
    if type(event) is not dict or len(event) != 2:
        return None
    action, positions = event.get("action"), event.get("positions")
    if type(action) is not str or action != "score_risk_batch":
        return None
    if type(positions) is not list or not 1 <= len(positions) <= MAX_BATCH or _types(positions) != {dict}:
        return None
    if not all(map(_POSITION_KEYS.issuperset, positions)):
        return None
    collateral: list[Any] = list(map(dict.get, positions, repeat("collateral")))
    debt: list[Any] = list(map(dict.get, positions, repeat("debt"), repeat(_NO_DEBT)))
    if _types(collateral) != {list} or _types(debt) != {list}:
        return None
    if min(map(len, collateral)) < 1 or max(map(len, collateral)) > MAX_LEGS:
        return None
    if max(map(len, debt)) > MAX_LEGS:
        return None
    if not _types(list(map(dict.get, positions, repeat("position_id")))) <= _ID_TYPES:
        return None
    horizons = list(map(dict.get, positions, repeat("horizon_hours"), repeat(MIN_HORIZON_HOURS)))
    if not _plain_ints(horizons, MIN_HORIZON_HOURS, MAX_HORIZON_HOURS):
        return None
    volatility = list(map(dict.get, positions, repeat("volatility")))
    kinds = _types(volatility)
    if not kinds <= _VOLATILITY_TYPES or (dict in kinds and not all(map(_plain_volatility, volatility))):
        return None

    coll_legs = list(chain.from_iterable(collateral))
    debt_legs = list(chain.from_iterable(debt))
    every_leg = coll_legs + debt_legs
    if _types(every_leg) != {dict}:
        return None
    # Exactly the fields of each side: as many keys as fields, and every field read below.
    if set(map(len, coll_legs)) != {5} or (debt_legs and set(map(len, debt_legs)) != {4}):
        return None
    try:
        symbols = list(map(_SYMBOL, every_leg))
        amounts = list(map(_AMOUNT, every_leg))
        decimals = list(map(_DECIMALS, every_leg))
        prices = list(map(_PRICE, every_leg))
        thresholds = list(map(_THRESHOLD, coll_legs))
    except KeyError:
        return None
    if _types(symbols) != {str}:
        return None
    distinct_symbols = dict.fromkeys(symbols)
    if not all(1 <= len(s) <= MAX_SYMBOL for s in distinct_symbols):
        return None
    if not _plain_ints(amounts, 0, MAX_AMOUNT) or not _plain_ints(decimals, 0, MAX_DECIMALS):
        return None
    price = _plain_floats(prices)
    threshold = _plain_floats(thresholds)
    if price is None or threshold is None or not bool((price > 0).all()):
        return None
    if not bool(((threshold > 0) & (threshold <= 1)).all()):
        return None
    return _columns(positions, collateral, debt, coll_legs, every_leg, symbols, amounts, decimals, price, threshold)


def _plain_volatility(table: Any) -> bool:
    """A volatility override table of str keys and numbers in [0, 10] (None passes)."""
    if table is None:
        return True
    keys, values = list(table), list(table.values())
    if _types(keys) - {str} or _types(values) - _NUMBER_TYPES:
        return False
    numbers = np.array([float(v) if -EXACT_INT < v < EXACT_INT else np.inf for v in values], dtype=np.float64)
    return bool((np.isfinite(numbers) & (numbers >= 0) & (numbers <= MAX_VOLATILITY)).all())
