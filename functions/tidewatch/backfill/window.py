"""The time window of a backfill: hourly (or daily) buckets, validated before anything is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tidewatch.errors import InvalidInput

DEFAULT_DAYS = 30
MAX_DAYS = 366
HOUR = 3600


@dataclass(frozen=True)
class Window:
    """Buckets `[start, end)` of `step_seconds`, `start` aligned to the step (UTC)."""

    start: datetime
    end: datetime
    step_seconds: int = HOUR

    def buckets(self) -> list[datetime]:
        step = timedelta(seconds=self.step_seconds)
        out, t = [], self.start
        while t < self.end:
            out.append(t)
            t += step
        return out

    def describe(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()} every {self.step_seconds} s"


def align(t: datetime, step_seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step_seconds, tz=UTC)


def make_window(
    *,
    now: datetime,
    days: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    step_seconds: int = HOUR,
) -> Window:
    """The buckets to backfill; `end` defaults to the last whole step before `now`.

    Refused (`InvalidInput`): an end in the future, a start after the end, a span over a year.
    """
    if step_seconds not in (HOUR, 24 * HOUR):
        raise InvalidInput(
            "step must be 3600 (hour) or 86400 (day)", errors=[{"field": "step", "message": "hour or day"}]
        )
    if days is not None and not 0 < days <= MAX_DAYS:
        raise InvalidInput(
            f"days must be in (0, {MAX_DAYS}]", errors=[{"field": "days", "message": f"at most {MAX_DAYS}"}]
        )
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2026-11-01T00:00Z)", errors=[{"field": name}])
    if end is not None and end > now:
        raise InvalidInput(
            f"end {end.isoformat()} is in the future (now {now.isoformat()}): history has not happened yet",
            errors=[{"field": "end", "message": "in the future"}],
        )
    if start is not None and start > now:
        raise InvalidInput(
            f"start {start.isoformat()} is in the future (now {now.isoformat()})",
            errors=[{"field": "start", "message": "in the future"}],
        )
    stop = align(end or now, step_seconds)
    begin = align(start, step_seconds) if start is not None else stop - timedelta(days=days or DEFAULT_DAYS)
    begin = align(begin, step_seconds)
    if begin >= stop:
        raise InvalidInput("start must be before end", errors=[{"field": "start", "message": "must be before end"}])
    if stop - begin > timedelta(days=MAX_DAYS):
        raise InvalidInput(
            f"a backfill spans at most {MAX_DAYS} days", errors=[{"field": "start", "message": "range too long"}]
        )
    return Window(begin, stop, step_seconds)
