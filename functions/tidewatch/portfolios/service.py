"""Portfolio logic: ownership, validation against supported chains, positions view and history."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from tidewatch.cache import CacheAside
from tidewatch.errors import InvalidInput, NotFound
from tidewatch.markets.gaps import find_gaps
from tidewatch.observability import logger
from tidewatch.portfolios.models import (
    CacheInfo,
    ChartPoint,
    HistoryBackfill,
    Page,
    Portfolio,
    PortfolioChart,
    PortfolioIn,
    PortfolioPatch,
    PortfolioView,
    Snapshot,
    Totals,
    decode_cursor,
    encode_cursor,
)
from tidewatch.portfolios.positions import PositionReading, PositionSource, RiskForecaster
from tidewatch.portfolios.repository import PortfolioRepository


def totals_of(reading: PositionReading) -> Totals:
    supplied = sum((p.supplied_usd for p in reading.positions), Decimal(0))
    borrowed = sum((p.borrowed_usd for p in reading.positions), Decimal(0))
    factors = [p.health_factor for p in reading.positions if p.health_factor is not None]
    return Totals(
        supplied_usd=supplied,
        borrowed_usd=borrowed,
        net_worth_usd=supplied - borrowed,
        min_health_factor=min(factors) if factors else None,
    )


class PortfolioService:
    def __init__(
        self,
        repository: PortfolioRepository,
        positions: PositionSource,
        cache: CacheAside,
        *,
        supported_chains: Sequence[int],
        risk: RiskForecaster | None = None,
        clock: Callable[[], float],
    ) -> None:
        self._repo = repository
        self._positions = positions
        self._cache = cache
        self._chains = frozenset(supported_chains)
        self._risk = risk
        self._clock = clock

    def _check_chains(self, chains: Sequence[int] | None) -> None:
        unsupported = sorted(set(chains or ()) - self._chains)
        if unsupported:
            raise InvalidInput(
                f"unsupported chain(s) {unsupported}",
                errors=[{"field": "chains", "message": f"supported: {sorted(self._chains)}", "in": "body"}],
            )

    def _owned(self, user_id: int, portfolio_id: int) -> Portfolio:
        portfolio = self._repo.get(user_id, portfolio_id)
        if portfolio is None:
            # Same answer whether it does not exist or belongs to someone else.
            raise NotFound(f"portfolio {portfolio_id} not found")
        return portfolio

    def create(self, user_id: int, plan: str, body: PortfolioIn) -> Portfolio:
        """Plan limits (portfolios, addresses) are checked by the repository's admission, inside
        the write transaction, against the plan in the database (`plan` is the token's claim)."""
        self._check_chains(body.chains)
        return self._repo.create(user_id, body.name, body.wallets, body.chains)

    def get(self, user_id: int, portfolio_id: int) -> Portfolio:
        return self._owned(user_id, portfolio_id)

    def list_for_user(self, user_id: int, *, cursor: str | None, limit: int) -> Page[Portfolio]:
        items = self._repo.list_for_user(user_id, after_id=decode_cursor(cursor), limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return Page[Portfolio](items=items, next_cursor=encode_cursor(items[-1].id) if more else None)

    def update(self, user_id: int, portfolio_id: int, patch: PortfolioPatch) -> Portfolio:
        self._check_chains(patch.chains)
        updated = self._repo.update(user_id, portfolio_id, name=patch.name, wallets=patch.wallets, chains=patch.chains)
        if updated is None:
            raise NotFound(f"portfolio {portfolio_id} not found")
        return updated

    def delete(self, user_id: int, portfolio_id: int) -> None:
        if not self._repo.delete(user_id, portfolio_id):
            raise NotFound(f"portfolio {portfolio_id} not found")

    def view(self, user_id: int, portfolio_id: int) -> PortfolioView:
        """Positions now (cached), totals, per-source staleness; records a snapshot for history."""
        portfolio = self._owned(user_id, portfolio_id)
        addresses = [w.address for w in portfolio.wallets]
        # The key covers what is read, so editing the wallets or chains never serves old positions.
        fingerprint = hashlib.sha256(f"{sorted(addresses)}|{portfolio.chains}".encode()).hexdigest()[:24]
        cached = self._cache.get_or_load(
            f"{portfolio.id}:{fingerprint}",
            lambda: self._positions.read(portfolio.chains, addresses),
            encode=lambda reading: reading.model_dump(mode="json"),
            decode=PositionReading.model_validate,
        )
        reading = cached.value
        totals = totals_of(reading)
        risk = None
        if self._risk is not None and reading.positions:
            try:
                risk = self._risk.forecast(reading.positions)
            except Exception as exc:  # the view is still useful without a forecast
                logger.warning("risk forecast unavailable", extra={"error": str(exc)})
        view = PortfolioView(
            portfolio=portfolio,
            positions=reading.positions,
            totals=totals,
            sources=reading.sources,
            cache=CacheInfo(source=cached.source, age_seconds=round(cached.age_seconds, 3)),
            risk=risk,
        )
        self._repo.add_snapshot(
            portfolio.id,
            taken_at=datetime.fromtimestamp(self._clock(), UTC),
            net_worth_usd=totals.net_worth_usd,
            min_health_factor=totals.min_health_factor,
            payload={
                "totals": totals.model_dump(mode="json"),
                "positions": [p.model_dump(mode="json") for p in reading.positions],
                "sources": [s.model_dump(mode="json") for s in reading.sources],
            },
        )
        return view

    def chart(
        self,
        user_id: int,
        portfolio_id: int,
        *,
        start: datetime | None,
        end: datetime | None,
        bucket: Literal["hour", "day"] = "hour",
    ) -> PortfolioChart:
        """Net worth and health factor per bucket from the chain's past (positions backfill), with
        how far back it goes, its gaps and whether a wallet's backfill is still running."""
        portfolio = self._owned(user_id, portfolio_id)
        now = datetime.fromtimestamp(self._clock(), UTC)
        step = 3600 if bucket == "hour" else 86400
        end = end or now
        start = start or end - timedelta(days=30)
        if start >= end:
            raise InvalidInput("start must be before end", errors=[{"field": "start", "message": "must be before end"}])
        if end - start > timedelta(days=366):
            raise InvalidInput(
                "the range may span at most 366 days", errors=[{"field": "start", "message": "too long"}]
            )
        epoch = int(start.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
        addresses = [w.address for w in portfolio.wallets]
        rows, first, jobs = self._repo.chart(addresses, portfolio.chains, start, end, step)
        gaps = []
        if first is not None:
            size = timedelta(seconds=step)
            begin = start + max(0, (first - start) // size) * size
            stop = min(end, start + max(0, (now - start) // size) * size)
            gaps = [g.model_dump(mode="json") for g in find_gaps(begin, stop, step, (r["t"] for r in rows))]
        backfills = [HistoryBackfill(**j) for j in jobs]
        return PortfolioChart(
            start=start,
            end=end,
            bucket=bucket,
            bucket_seconds=step,
            first_timestamp=first,
            backfill_running=any(b.status == "running" for b in backfills),
            backfills=backfills,
            gaps=gaps,
            points=[ChartPoint(**r) for r in rows],
        )

    def history(
        self, user_id: int, portfolio_id: int, *, cursor: str | None, limit: int, since: datetime | None
    ) -> Page[Snapshot]:
        self._owned(user_id, portfolio_id)
        items = self._repo.history(portfolio_id, before_id=decode_cursor(cursor), limit=limit + 1, since=since)
        more = len(items) > limit
        items = items[:limit]
        return Page[Snapshot](items=items, next_cursor=encode_cursor(items[-1].id) if more else None)
