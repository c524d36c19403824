"""Markets: every ingested market with its latest rates, one market, and its rate history.

Public and read-only, like DefiLlama's API: no sign-in, rate-limited per client IP (the data is
the same for everyone, so there is nothing to scope to a user).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from api.deps import MarketServiceDep, limit_by_ip
from api.params import Rfc3339
from tidewatch.bounds import INTEGER_MAX
from tidewatch.markets.models import MarketHistory, MarketList, MarketSummary
from tidewatch.markets.service import MAX_POINTS
from tidewatch.protocols.slugs import ProtocolSlug

router = APIRouter(
    prefix="/markets",
    tags=["markets"],
    dependencies=[Depends(limit_by_ip)],
    responses={429: {"description": "Rate limited per client IP (problem+json, Retry-After)."}},
)

MarketId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Market id.")]


@router.get("")
def list_markets(
    markets: MarketServiceDep,
    chain_id: Annotated[
        int | None, Query(ge=1, le=INTEGER_MAX, description="Only this chain (1 Ethereum, 8453 Base).")
    ] = None,
    protocol: Annotated[ProtocolSlug | None, Query(description="Only this protocol.")] = None,
    asset: Annotated[str | None, Query(max_length=20, description="Only this asset symbol.")] = None,
) -> MarketList:
    """Every market with its latest supply/borrow APY, utilization, totals and staleness.

    When the database is unreachable the last list is served with `stale: true` and its age.
    """
    return markets.list(chain_id=chain_id, protocol=protocol, asset=asset)


@router.get("/{market_id}", responses={404: {"description": "No such market (problem+json)."}})
def get_market(market_id: MarketId, markets: MarketServiceDep) -> MarketSummary:
    return markets.get(market_id)


@router.get("/{market_id}/history", responses={404: {"description": "No such market (problem+json)."}})
def market_history(
    market_id: MarketId,
    markets: MarketServiceDep,
    start: Annotated[Rfc3339 | None, Query(description="Range start (default: end − 7 days).")] = None,
    end: Annotated[Rfc3339 | None, Query(description="Range end (default: now).")] = None,
    points: Annotated[int, Query(ge=1, le=MAX_POINTS, description="At most this many points (downsampled).")] = 200,
    bucket: Annotated[
        Literal["hour", "day"] | None,
        Query(description="One point per UTC hour or day (like DefiLlama's /chart); overrides `points`."),
    ] = None,
) -> MarketHistory:
    """Rate history averaged per bucket, oldest first, with the series' first timestamp and its
    gaps (buckets without a reading: `missing`, or `unfillable` when a backfill found nothing to
    read). Without `bucket`, the range is cut into at most `points` equal buckets."""
    return markets.history(market_id, start=start, end=end, points=points, bucket=bucket)
