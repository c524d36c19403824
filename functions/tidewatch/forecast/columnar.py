"""Columnar scoring of many positions: the position maths of `position.py` on flat leg arrays.

Every leg of every position is one row (position index, asset index, USD value — collateral
already weighted by its liquidation threshold — and side). Per-asset sums, health factor,
distance to liquidation, σ of ln HF (√(wᵀΣw) over the assets of a position) and the
closed-form barrier of single-asset positions are then a handful of numpy operations for the
whole batch instead of Python work per position. The results equal `exposure_of` +
`score_exposures` up to floating-point summation order (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.assets import STABLECOINS
from tidewatch.forecast.bands import BANDS, band_indices
from tidewatch.forecast.reference import first_passage_lower, first_passage_upper
from tidewatch.forecast.risk_model import RiskModel, ScoreColumns, served_probability


@dataclass
class LegTable:
    """Legs of a batch; `symbols[asset[i]]` is leg i's canonical symbol."""

    position: Sequence[int] | NDArray[np.int64]
    asset: Sequence[int] | NDArray[np.int64]
    value: Sequence[float] | NDArray[np.float64]
    collateral: Sequence[bool] | NDArray[np.bool_]
    symbols: list[str]


def score_legs(
    legs: LegTable,
    positions: int,
    horizons: Sequence[int],
    overrides: Mapping[int, Mapping[str, float]],
    model: RiskModel,
) -> ScoreColumns:
    """Score `positions` positions from their legs; every symbol must be known to the model."""
    market = model.market
    stable = np.array([s in STABLECOINS for s in legs.symbols], dtype=bool)
    base_vol = np.array([0.0 if s in STABLECOINS else market.vol(s) for s in legs.symbols])
    pos = np.asarray(legs.position, dtype=np.int64)
    asset = np.asarray(legs.asset, dtype=np.int64)
    value = np.asarray(legs.value, dtype=np.float64)
    is_coll = np.asarray(legs.collateral, dtype=bool)
    leg_stable = stable[asset]
    n = positions

    stable_c = np.bincount(pos, weights=np.where(is_coll & leg_stable, value, 0.0), minlength=n)
    stable_d = np.bincount(pos, weights=np.where(~is_coll & leg_stable, value, 0.0), minlength=n)
    # Volatile legs folded per (position, asset).
    vol_legs = ~leg_stable
    key = pos[vol_legs] * len(legs.symbols) + asset[vol_legs]
    keys, inverse = np.unique(key, return_inverse=True)
    cw = np.bincount(inverse, weights=np.where(is_coll[vol_legs], value[vol_legs], 0.0), minlength=keys.size)
    dv = np.bincount(inverse, weights=np.where(is_coll[vol_legs], 0.0, value[vol_legs]), minlength=keys.size)
    e_pos = keys // len(legs.symbols)
    e_asset = keys % len(legs.symbols)

    coll_total = np.bincount(e_pos, weights=cw, minlength=n) + stable_c
    debt_total = np.bincount(e_pos, weights=dv, minlength=n) + stable_d
    with np.errstate(divide="ignore", invalid="ignore"):
        hf = np.where(debt_total > 0, coll_total / np.where(debt_total > 0, debt_total, 1.0), np.inf)
        margin = coll_total - debt_total
        volatile_c = coll_total - stable_c
        distance = np.where(
            margin <= 0,
            0.0,
            np.where(volatile_c <= 0, 1.0, np.minimum(1.0, margin / np.where(volatile_c > 0, volatile_c, 1.0))),
        )

    # σ of each (position, asset) entry, with the position's overrides where given.
    # Entries are sorted by position, so a position's entries are one contiguous range.
    sigma_e = base_vol[e_asset]
    if overrides:
        where = np.fromiter(overrides, dtype=np.int64, count=len(overrides))
        first_entry = np.searchsorted(e_pos, where, side="left").tolist()
        end_entry = np.searchsorted(e_pos, where, side="right").tolist()
        for table, lo, hi in zip(overrides.values(), first_entry, end_entry, strict=True):
            for r in range(lo, hi):
                sym = legs.symbols[int(e_asset[r])]
                if sym in table:
                    sigma_e[r] = table[sym]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(
            debt_total[e_pos] > 0,
            cw / np.where(coll_total[e_pos] > 0, coll_total[e_pos], 1.0)
            - dv / np.where(debt_total[e_pos] > 0, debt_total[e_pos], 1.0),
            0.0,
        )
    ws = w * sigma_e
    # wᵀΣw: Σ over ordered pairs of entries of the same position of ws_a ws_b ρ_ab.
    counts = np.bincount(e_pos, minlength=n)
    variance: NDArray[np.float64] = np.bincount(e_pos, weights=ws * ws, minlength=n).astype(np.float64)
    multi = np.flatnonzero(counts[e_pos] > 1)
    if multi.size:
        starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
        entries = multi
        k = counts[e_pos[entries]]
        a = np.repeat(entries, k)
        offsets = np.arange(a.size) - np.repeat(np.cumsum(k) - k, k)
        b = starts[e_pos[a]] + offsets
        off_diagonal = a < b
        a, b = a[off_diagonal], b[off_diagonal]
        # One correlation per pair of the batch's distinct symbols, gathered per entry pair.
        used = np.unique(np.concatenate([e_asset[a], e_asset[b]]))
        slot = np.zeros(len(legs.symbols), dtype=np.int64)
        slot[used] = np.arange(used.size)
        names = [legs.symbols[int(i)] for i in used.tolist()]
        pair_corr = np.array([[market.corr(x, y) for y in names] for x in names])
        corr = pair_corr[slot[e_asset[a]], slot[e_asset[b]]]
        variance += 2.0 * np.bincount(e_pos[a], weights=ws[a] * ws[b] * corr, minlength=n)
    sigma = np.sqrt(np.maximum(variance, 0.0))
    sigma = np.where(debt_total > 0, sigma, 0.0)

    hours = np.asarray(horizons, dtype=np.float64)
    probability = model.probability(hf, sigma, hours)

    # Closed-form reference: exactly one volatile asset (or none: a certain 0 / 1).
    reference = np.full(n, np.nan)
    single = counts == 1
    first = np.full(n, -1, dtype=np.int64)
    first[e_pos[::-1]] = np.arange(e_pos.size)[::-1]
    net = np.zeros(n)
    sig1 = np.zeros(n)
    net[single] = cw[first[single]] - dv[first[single]]
    sig1[single] = sigma_e[first[single]]
    shortfall = stable_d - stable_c
    lower = single & (net > 0) & (shortfall > 0)
    upper = single & (net < 0) & (shortfall < 0)
    reference[single & ~lower & ~upper] = 0.0
    if lower.any():
        reference[lower] = first_passage_lower(shortfall[lower] / net[lower], sig1[lower], hours[lower])
    if upper.any():
        reference[upper] = first_passage_upper(shortfall[upper] / net[upper], sig1[upper], hours[upper])
    reference[counts == 0] = 0.0
    reference[coll_total < debt_total] = 1.0
    reference[debt_total <= 0] = 0.0
    bands = band_indices(probability, distance)
    return ScoreColumns(
        health_factor=[None if h == np.inf else h for h in hf.tolist()],
        probability=served_probability(probability).tolist(),
        reference=[None if r != r else r for r in served_probability(reference).tolist()],
        distance=distance.tolist(),
        band=[BANDS[b] for b in bands.tolist()],
    )
