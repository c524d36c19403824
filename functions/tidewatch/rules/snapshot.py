"""One consistent view of the world per tick: market APYs, health factors, risk, price changes.

Every rule of a tick is evaluated against the same `TickSnapshot`, taken with one batched call per
source (never one per rule). The sources are small interfaces; the data layer, the position
reader and the risk function provide the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from tidewatch.observability import MetricUnit, logger, metrics

K = TypeVar("K")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# (chain id, asset symbol, window seconds): an asset's price change over a window.
PriceWindow = tuple[int, str, int]
# (portfolio id, horizon hours): a liquidation-risk forecast request.
RiskRequest = tuple[int, int]


@dataclass(frozen=True)
class MarketState:
    """The latest ingested state of one market."""

    market_id: int
    supply_apy: float | None
    borrow_apy: float | None
    chain_id: int = 1
    asset_symbol: str = ""
    price_usd: float | None = None
    observed_at: datetime | None = None


class MarketSnapshotSource(Protocol):
    """Latest market state and price changes (the ingest hot cache or its Postgres time series)."""

    def latest_markets(self) -> Sequence[MarketState]: ...

    def price_changes(self, windows: Sequence[PriceWindow], at: datetime) -> Mapping[PriceWindow, float]:
        """Fractional change of each asset's price over each window ending at `at` (absent if unknown)."""
        ...


class HealthFactorSource(Protocol):
    """Health factors per portfolio for a tick (the API's `tidewatch.portfolios.positions.PositionSource`
    reads whole positions of addresses instead)."""

    def health_factors(self, portfolio_ids: Sequence[int]) -> Mapping[int, float]:
        """Lowest health factor across each portfolio's borrowing positions (absent: no debt / unknown)."""
        ...


class RiskScorer(Protocol):
    def liquidation_probabilities(self, requests: Sequence[RiskRequest]) -> Mapping[RiskRequest, float]:
        """Probability of liquidation within the horizon, for many portfolios in ONE call."""
        ...


# Ids are database identities (small, dense integers), so a lookup table indexed by id is the
# fastest vectorised map; beyond this size we fall back to binary search to bound memory.
_DENSE_LIMIT = 16_000_000


class KeyedValues:
    """An id → value map that answers many ids at once (NaN for unknown ids)."""

    def __init__(self, mapping: Mapping[int, float]) -> None:
        keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
        values = np.fromiter(mapping.values(), dtype=np.float64, count=len(mapping))
        self.size = int(keys.size)
        top = int(keys.max()) if keys.size else 0
        self._dense: FloatArray | None = None
        if top <= _DENSE_LIMIT and (keys.size == 0 or int(keys.min()) >= 0):
            # One spare NaN slot at the end answers every out-of-range id.
            self._dense = np.full(top + 2, np.nan)
            self._dense[keys] = values
        order = np.argsort(keys, kind="stable")
        self.keys, self.values = keys[order], values[order]

    def get(self, query: IntArray) -> FloatArray:
        if self._dense is not None:
            nan_slot = self._dense.size - 1
            return self._dense[np.where((query >= 0) & (query < nan_slot), query, nan_slot)]
        return lookup(self.keys, self.values, query)

    def get_one(self, key: int) -> float:
        return float(self.get(np.array([key], dtype=np.int64))[0])

    def items(self) -> list[tuple[int, float]]:
        return list(zip(self.keys.tolist(), self.values.tolist(), strict=True))


def lookup(keys: IntArray, values: FloatArray, query: IntArray) -> FloatArray:
    """values[key] for each query key over sorted keys, NaN where the key is unknown."""
    out = np.full(query.shape, np.nan)
    if keys.size == 0 or query.size == 0:
        return out
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    found = keys[pos] == query
    out[found] = values[pos[found]]
    return out


@dataclass(frozen=True)
class TickSnapshot:
    """Everything the rules of one tick look at, as id-indexed tables for vectorised lookups."""

    taken_at: datetime
    supply_apy: KeyedValues
    borrow_apy: KeyedValues
    health_factors: KeyedValues
    risk: Mapping[int, KeyedValues]  # horizon hours -> portfolio id -> probability
    price_changes: Mapping[PriceWindow, float] = field(default_factory=dict)
    markets: tuple[MarketState, ...] = ()

    @classmethod
    def build(
        cls,
        taken_at: datetime,
        markets: Iterable[MarketState],
        health_factors: Mapping[int, float] | None = None,
        risk: Mapping[RiskRequest, float] | None = None,
        price_changes: Mapping[PriceWindow, float] | None = None,
    ) -> TickSnapshot:
        rows = tuple(sorted(markets, key=lambda m: m.market_id))
        by_horizon: dict[int, dict[int, float]] = {}
        for (portfolio, horizon), probability in (risk or {}).items():
            by_horizon.setdefault(int(horizon), {})[int(portfolio)] = probability
        return cls(
            taken_at=taken_at,
            supply_apy=KeyedValues({m.market_id: m.supply_apy for m in rows if m.supply_apy is not None}),
            borrow_apy=KeyedValues({m.market_id: m.borrow_apy for m in rows if m.borrow_apy is not None}),
            health_factors=KeyedValues(health_factors or {}),
            risk={h: KeyedValues(v) for h, v in by_horizon.items()},
            price_changes=dict(price_changes or {}),
            markets=rows,
        )

    # Scalar accessors, used by dry runs.
    def apy(self, market_id: int, side: str) -> float:
        return (self.supply_apy if side == "supply" else self.borrow_apy).get_one(market_id)

    def health_factor(self, portfolio_id: int) -> float:
        return self.health_factors.get_one(portfolio_id)

    def risk_probability(self, portfolio_id: int, horizon_hours: int) -> float:
        table = self.risk.get(horizon_hours)
        return table.get_one(portfolio_id) if table else float("nan")

    def price_change(self, window: PriceWindow) -> float:
        return float(self.price_changes.get(window, float("nan")))


@dataclass(frozen=True)
class SnapshotNeeds:
    """What the enabled rules of a tick refer to, so each source is asked once for exactly that."""

    portfolios_hf: frozenset[int] = frozenset()
    risk: frozenset[RiskRequest] = frozenset()
    price_windows: frozenset[PriceWindow] = frozenset()


def take_snapshot(
    needs: SnapshotNeeds,
    *,
    at: datetime,
    markets: MarketSnapshotSource,
    positions: HealthFactorSource | None,
    risk: RiskScorer | None,
) -> TickSnapshot:
    """One call per source: markets, health factors, risk (batched) and price windows.

    Markets are required (their failure fails the tick, so it is retried). Positions, risk and
    prices degrade: if one is unavailable its rules see no data (and do not fire) while every
    other rule is still evaluated.
    """
    hfs = (
        _degrade("positions", lambda: positions.health_factors(sorted(needs.portfolios_hf)))
        if (positions and needs.portfolios_hf)
        else {}
    )
    probabilities = (
        _degrade("risk", lambda: risk.liquidation_probabilities(sorted(needs.risk))) if (risk and needs.risk) else {}
    )
    changes = (
        _degrade("prices", lambda: markets.price_changes(sorted(needs.price_windows), at))
        if (needs.price_windows)
        else {}
    )
    return TickSnapshot.build(at, markets.latest_markets(), hfs, probabilities, changes)


def _degrade(source: str, read: Callable[[], Mapping[K, float]]) -> Mapping[K, float]:
    try:
        return read()
    except Exception as exc:  # a missing source must not stop the rules that do not need it
        logger.warning("snapshot source unavailable", extra={"source": source, "error": str(exc)})
        metrics.add_metric(name="RulesSourceUnavailable", unit=MetricUnit.Count, value=1)
        return {}
