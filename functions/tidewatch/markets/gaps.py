"""Gaps of a bucketed series: runs of empty buckets, told apart as missing or unfillable."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from tidewatch.markets.models import HistoryGap


def find_gaps(
    start: datetime,
    end: datetime,
    step_seconds: int,
    filled: Iterable[datetime],
    unfillable: Iterable[datetime] = (),
) -> list[HistoryGap]:
    """Consecutive empty buckets of `[start, end)` (buckets aligned on `start`) as ranges.

    A bucket is `unfillable` when a backfill marked any of its hours so (a day bucket is when all
    of its hours were), otherwise `missing`.
    """
    step = timedelta(seconds=step_seconds)
    have = set(filled)
    marked: set[datetime] = set()
    for hour in unfillable:
        offset = (hour - start) // step
        marked.add(start + offset * step)
    gaps: list[HistoryGap] = []
    t = start
    while t < end:
        if t in have:
            t += step
            continue
        reason = "unfillable" if t in marked else "missing"
        if gaps and gaps[-1].end == t and gaps[-1].reason == reason:
            last = gaps[-1]
            gaps[-1] = HistoryGap(start=last.start, end=t + step, buckets=last.buckets + 1, reason=reason)
        else:
            gaps.append(HistoryGap(start=t, end=t + step, buckets=1, reason=reason))
        t += step
    return gaps
