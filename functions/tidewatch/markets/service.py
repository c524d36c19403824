"""Market views: latest rates (cache-aside, stale-if-error) and downsampled rate history."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from tidewatch.cache import CacheAside
from tidewatch.db import Database
from tidewatch.errors import InvalidInput, NotFound
from tidewatch.forecast.client import RiskClient
from tidewatch.forecast.payloads import ApyBatchRequest, ApyForecastRequest
from tidewatch.markets import repository
from tidewatch.markets.gaps import find_gaps
from tidewatch.markets.models import (
    ApyOutlook,
    HistoryGap,
    MarketHistory,
    MarketList,
    MarketSummary,
    RatePoint,
)
from tidewatch.observability import logger

MAX_POINTS = 500
BUCKETS = {"hour": 3600, "day": 86400}
MAX_BUCKETS = 9000  # a year of hours
MAX_RANGE = timedelta(days=366)
# Ingest runs every minute; a reading older than this many seconds is flagged stale.
DEFAULT_STALE_AFTER_SECONDS = 300.0


def _summary(row: dict[str, Any], now: datetime, stale_after: float) -> MarketSummary:
    observed: datetime | None = row.get("observed_at")
    age = (now - observed).total_seconds() if observed else None
    price: Decimal | None = row.get("price_usd")
    supplied = row.get("total_supplied")
    tvl = None
    if price is not None and supplied is not None:
        tvl = (Decimal(supplied) / (Decimal(10) ** int(row["asset_decimals"])) * price).quantize(Decimal("0.01"))
    return MarketSummary(
        id=row["id"],
        chain_id=row["chain_id"],
        protocol=row["protocol"],
        market_key=row["market_key"],
        asset_symbol=row["asset_symbol"],
        asset_address=row["asset_address"],
        asset_decimals=row["asset_decimals"],
        supply_apy=row.get("supply_apy"),
        borrow_apy=row.get("borrow_apy"),
        utilization=row.get("utilization"),
        total_supplied=None if supplied is None else str(int(supplied)),
        total_borrowed=None if row.get("total_borrowed") is None else str(int(row["total_borrowed"])),
        price_usd=price,
        tvl_usd=tvl,
        block_number=row.get("block_number"),
        observed_at=observed,
        age_seconds=None if age is None else round(age, 1),
        stale=age is None or age > stale_after,
    )


# market ids → their 24 h supply outlooks (missing ids: no forecast possible yet)
OutlookSource = Callable[[Sequence[int]], Mapping[int, ApyOutlook]]


class MarketService:
    def __init__(
        self,
        database: Database,
        cache: CacheAside,
        *,
        outlooks: OutlookSource | None = None,
        stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._cache = cache
        self._outlooks = outlooks
        self._stale_after = stale_after_seconds
        self._clock = clock

    def _with_outlooks(self, items: list[MarketSummary]) -> list[MarketSummary]:
        if self._outlooks is None or not items:
            return items
        try:
            outlooks = self._outlooks([m.id for m in items])
        except Exception as exc:  # the list is still useful without forecasts: never invent one
            logger.warning("APY forecasts unavailable", extra={"error": str(exc)})
            return items
        return [m.model_copy(update={"forecast": outlooks.get(m.id)}) for m in items]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def list(self, *, chain_id: int | None = None, protocol: str | None = None, asset: str | None = None) -> MarketList:
        key = f"list:{chain_id}:{protocol}:{(asset or '').upper()}"

        def load() -> list[dict[str, Any]]:
            with self._db.connection() as conn:
                rows = repository.latest(conn, chain_id=chain_id, protocol=protocol, asset=asset)
            return [{k: (str(v) if isinstance(v, Decimal | datetime) else v) for k, v in r.items()} for r in rows]

        cached = self._cache.get_or_load(key, load)
        now = self._now()
        items = self._with_outlooks([_summary(_revive(row), now, self._stale_after) for row in cached.value])
        return MarketList(items=items, as_of=now, stale=cached.stale, age_seconds=round(cached.age_seconds, 1))

    def get(self, market_id: int) -> MarketSummary:
        with self._db.connection() as conn:
            row = repository.one(conn, market_id)
        if row is None:
            raise NotFound(f"no market {market_id}", slug="market-not-found")
        return self._with_outlooks([_summary(row, self._now(), self._stale_after)])[0]

    def history(
        self,
        market_id: int,
        *,
        start: datetime | None,
        end: datetime | None,
        points: int = 200,
        bucket: Literal["hour", "day"] | None = None,
    ) -> MarketHistory:
        """Readings averaged per bucket: `bucket` hour or day (aligned on UTC hours / midnights,
        like DefiLlama's chart), or else `points` equal buckets over the range. States the series'
        first reading and the gaps (empty buckets from the later of the range start and the first
        reading, up to the range end or now)."""
        now = self._now()
        end = end or now
        start = start or end - timedelta(days=7)
        if start >= end:
            raise InvalidInput("start must be before end", errors=[{"field": "start", "message": "must be before end"}])
        if end - start > MAX_RANGE:
            raise InvalidInput(
                "the range may span at most 366 days", errors=[{"field": "start", "message": "range too long"}]
            )
        if not 1 <= points <= MAX_POINTS:
            raise InvalidInput(
                f"points must be 1..{MAX_POINTS}", errors=[{"field": "points", "message": "out of range"}]
            )
        if bucket is not None:
            step = BUCKETS[bucket]
            start = _floor(start, step)
            if (end - start).total_seconds() / step > MAX_BUCKETS:
                raise InvalidInput(
                    f"at most {MAX_BUCKETS} {bucket} buckets per request: narrow the range or use bucket=day",
                    errors=[{"field": "bucket", "message": "too many buckets for the range"}],
                )
        else:
            step = max(60, int((end - start).total_seconds() // points))
        market = self.get(market_id)
        with self._db.connection() as conn:
            rows = repository.history(conn, market_id, start, end, step, market.asset_decimals)
            first = repository.first_reading(conn, market_id)
            unfillable = repository.unfillable_hours(conn, market.chain_id, start, end)
        gaps: list[HistoryGap] = []
        if first is not None:
            # From the first bucket the series could have filled, to the last complete bucket
            # (the one holding `now` may still be filling).
            size = timedelta(seconds=step)
            begin = start + max(0, (first - start) // size) * size
            stop = min(end, start + max(0, (now - start) // size) * size)
            gaps = find_gaps(begin, stop, step, (r["t"] for r in rows), unfillable)
        return MarketHistory(
            market=market,
            start=start,
            end=end,
            bucket=bucket,
            bucket_seconds=step,
            first_timestamp=first,
            gaps=gaps,
            points=[RatePoint(**row) for row in rows],
        )


def _floor(t: datetime, step: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


_DECIMAL_FIELDS = ("supply_apy", "borrow_apy", "utilization", "total_supplied", "total_borrowed", "price_usd")


def _revive(row: dict[str, Any]) -> dict[str, Any]:
    """Undo the JSON encoding of a cached row (Decimals and times travel as strings)."""
    out = dict(row)
    for name in _DECIMAL_FIELDS:
        if out.get(name) is not None:
            out[name] = Decimal(out[name])
    if out.get("observed_at"):
        out["observed_at"] = datetime.fromisoformat(out["observed_at"])
    return out


class RiskFunctionOutlooks:
    """24 h supply-APY outlooks from the risk function (one batched call), cached for 5 minutes."""

    def __init__(self, risk: RiskClient, cache: CacheAside) -> None:
        self._risk = risk
        self._cache = cache

    def __call__(self, market_ids: Sequence[int]) -> Mapping[int, ApyOutlook]:
        ids = sorted(set(market_ids))

        def load() -> dict[str, Any]:
            request = ApyBatchRequest(
                requests=[ApyForecastRequest(market_id=i, side="supply", horizon_hours=24) for i in ids]
            )
            return {
                str(f.market_id): {
                    "horizon_hours": f.horizon_hours,
                    "predicted_apy": f.predicted_apy,
                    "lower": f.lower,
                    "upper": f.upper,
                    "interval_level": f.interval_level,
                    "label": f.label,
                    "fall_probability": f.fall_probability,
                    "method": f.method,
                    "method_reason": f.method_reason,
                    "model_version": f.model_version,
                }
                for f in self._risk.forecast_apy_batch(request).forecasts
            }

        cached = self._cache.get_or_load(",".join(map(str, ids)), load)
        return {int(k): ApyOutlook.model_validate(v) for k, v in cached.value.items()}
