"""Markets: read-only catalogue of ingested markets with their latest rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.market_catalog import Market, MarketCatalog, ProtocolName
from api.security import CurrentUser, ServicesDep, limit_by_ip
from tidewatch.errors import NotFound
from tidewatch.portfolios.models import Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/markets", tags=["markets"], dependencies=[Depends(limit_by_ip)])


@router.get("")
def list_markets(
    user: CurrentUser,
    svc: ServicesDep,
    chain_id: Annotated[int | None, Query(ge=1)] = None,
    protocol: ProtocolName | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> Page[Market]:
    items = MarketCatalog(svc.deps.database).page(
        chain_id=chain_id, protocol=protocol, after_id=decode_cursor(cursor), limit=limit + 1
    )
    more = len(items) > limit
    items = items[:limit]
    return Page[Market](items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/{market_id}", responses={404: {"description": "No such market"}})
def get_market(market_id: Annotated[int, Path(ge=1, le=2**63 - 1)], user: CurrentUser, svc: ServicesDep) -> Market:
    market = MarketCatalog(svc.deps.database).get(market_id)
    if market is None:
        raise NotFound(f"market {market_id} not found")
    return market
