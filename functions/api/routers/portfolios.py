"""Portfolios: CRUD scoped to the signed-in user, the positions view and its snapshot history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import CurrentUser, PortfolioServiceDep, limit_by_ip
from api.params import Rfc3339
from tidewatch.portfolios.models import (
    Page,
    Portfolio,
    PortfolioChart,
    PortfolioIn,
    PortfolioPatch,
    PortfolioView,
    Snapshot,
)

router = APIRouter(
    prefix="/portfolios",
    tags=["portfolios"],
    dependencies=[Depends(limit_by_ip)],
    responses={
        401: {"description": "Missing or invalid access token (problem+json)."},
        429: {"description": "Rate limited (problem+json, Retry-After)."},
    },
)

PortfolioId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Portfolio id.")]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the previous page."),
]
_NOT_FOUND = {404: {"description": "No such portfolio of yours (problem+json)."}}


@router.post("", status_code=201, responses={402: {"description": "Plan limit reached"}})
def create_portfolio(
    body: PortfolioIn, user: CurrentUser, portfolios: PortfolioServiceDep, response: Response
) -> Portfolio:
    portfolio = portfolios.create(user.user_id, user.plan, body)
    response.headers["Location"] = f"/portfolios/{portfolio.id}"
    return portfolio


@router.get("")
def list_portfolios(
    user: CurrentUser, portfolios: PortfolioServiceDep, cursor: Cursor = None, limit: Limit = 50
) -> Page[Portfolio]:
    return portfolios.list_for_user(user.user_id, cursor=cursor, limit=limit)


@router.get("/{portfolio_id}", responses=_NOT_FOUND)  # type: ignore[arg-type]
def get_portfolio(portfolio_id: PortfolioId, user: CurrentUser, portfolios: PortfolioServiceDep) -> PortfolioView:
    """Positions across protocols and chains for every wallet, with totals and per-source staleness.

    Each view is recorded as a snapshot (see `/history`). `risk` is absent until the risk function
    is available.
    """
    return portfolios.view(user.user_id, portfolio_id)


@router.patch("/{portfolio_id}", responses=_NOT_FOUND)  # type: ignore[arg-type]
def update_portfolio(
    portfolio_id: PortfolioId, body: PortfolioPatch, user: CurrentUser, portfolios: PortfolioServiceDep
) -> Portfolio:
    return portfolios.update(user.user_id, portfolio_id, body)


@router.delete("/{portfolio_id}", status_code=204, responses=_NOT_FOUND)  # type: ignore[arg-type]
def delete_portfolio(portfolio_id: PortfolioId, user: CurrentUser, portfolios: PortfolioServiceDep) -> Response:
    portfolios.delete(user.user_id, portfolio_id)
    return Response(status_code=204)


@router.get("/{portfolio_id}/history", responses=_NOT_FOUND)  # type: ignore[arg-type]
def portfolio_history(
    portfolio_id: PortfolioId,
    user: CurrentUser,
    portfolios: PortfolioServiceDep,
    cursor: Cursor = None,
    limit: Limit = 100,
    since: Annotated[Rfc3339 | None, Query(description="Only snapshots taken at or after this time.")] = None,
) -> Page[Snapshot]:
    """Snapshots newest first, for charts (net worth and lowest health factor over time)."""
    return portfolios.history(user.user_id, portfolio_id, cursor=cursor, limit=limit, since=since)


@router.get("/{portfolio_id}/history/chart", responses=_NOT_FOUND)  # type: ignore[arg-type]
def portfolio_chart(
    portfolio_id: PortfolioId,
    user: CurrentUser,
    portfolios: PortfolioServiceDep,
    start: Annotated[Rfc3339 | None, Query(description="Range start (default: end − 30 days).")] = None,
    end: Annotated[Rfc3339 | None, Query(description="Range end (default: now).")] = None,
    bucket: Annotated[Literal["hour", "day"], Query(description="One point per UTC hour or day.")] = "hour",
) -> PortfolioChart:
    """Net worth and lowest health factor per hour or day, read from the chain's past for every
    wallet (a positions backfill starts when a wallet is added), with how far back the history
    goes (`first_timestamp`), its gaps, and whether a backfill is still running."""
    return portfolios.chart(user.user_id, portfolio_id, start=start, end=end, bucket=bucket)
