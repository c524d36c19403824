"""Positions of any address across Aave v3, Compound v3 and EigenLayer on every supported chain.

Public and read-only, like a block explorer: on-chain positions of an address are public, so
anyone may look without signing in; the route is rate-limited per client IP. Signing in is for
what Tidewatch stores (portfolios, rules, alerts, transactions, billing).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AfterValidator, Field

from api.deps import AuthSettingsDep, PositionSourceDep, limit_by_ip
from tidewatch.bounds import INTEGER_MAX
from tidewatch.chain.rpc import ChainUnavailable
from tidewatch.errors import InvalidInput
from tidewatch.portfolios.models import checksum_address
from tidewatch.portfolios.positions import PositionReading

router = APIRouter(
    prefix="/positions",
    tags=["positions"],
    dependencies=[Depends(limit_by_ip)],
    responses={429: {"description": "Rate limited per client IP (problem+json, Retry-After)."}},
)


def _address(value: str) -> str:
    try:
        return checksum_address(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "address", "message": str(exc), "in": "path"}]) from exc


WalletAddress = Annotated[
    str,
    Path(min_length=42, max_length=42, pattern=r"^0x[0-9a-fA-F]{40}$", description="0x address"),
    AfterValidator(_address),
]


@router.get("/{address}", responses={503: {"description": "No chain could be read and nothing is cached."}})
def address_positions(
    address: WalletAddress,
    auth: AuthSettingsDep,
    positions: PositionSourceDep,
    chain_id: Annotated[
        list[Annotated[int, Field(ge=1, le=INTEGER_MAX)]] | None,
        Query(max_length=16, description="Only these chains (default: every supported chain)."),
    ] = None,
) -> PositionReading:
    """Read live (cached 30 s); each (chain, protocol) source says how fresh it is, stale when the RPC failed."""
    supported = auth.supported_chain_ids
    chains = [c for c in (chain_id or supported) if c in supported]
    if chain_id and not chains:
        raise InvalidInput(
            f"unsupported chain(s) {chain_id}",
            errors=[{"field": "chain_id", "message": f"supported: {supported}", "in": "query"}],
        )
    reading = positions.read(chains, [address])
    if reading.sources and not reading.positions and all(s.stale and s.error for s in reading.sources):
        # Every source failed with nothing cached: an empty 200 would read as "no positions".
        raise ChainUnavailable(
            "no chain could be read and nothing is cached: "
            + "; ".join(sorted({s.error or "" for s in reading.sources})),
            chain_ids=sorted({s.chain_id for s in reading.sources}),
        )
    return reading
