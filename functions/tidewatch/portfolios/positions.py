"""The boundary between portfolios and the chain data layer.

`PositionSource` is the port the API reads positions through; the chain data layer (protocol
adapters over JSON-RPC, written separately) provides the real adapter and the lead wires it in
`api.deps`. Amounts are exact base-unit integers; USD values and ratios are Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from tidewatch.protocols.slugs import ProtocolSlug


# What the API serves (its docstring is published in docs/openapi.json): built from the adapters'
# `tidewatch.protocols.models.ChainPosition` (token lists per account), one row per asset, with
# USD values, APYs and the account's health factor beside the amounts.
class Position(BaseModel):
    """One wallet's holding in one market (supply and/or borrow of one asset)."""

    model_config = ConfigDict(frozen=True)

    chain_id: int
    protocol: ProtocolSlug
    address: str = Field(description="The wallet (checksummed).")
    market: str = Field(description="Market key: reserve / comet / strategy address.")
    asset_symbol: str
    asset_decimals: int = Field(ge=0, le=36)
    supplied: int = Field(default=0, ge=0, description="Base units.")
    borrowed: int = Field(default=0, ge=0, description="Base units.")
    supplied_usd: Decimal = Decimal(0)
    borrowed_usd: Decimal = Decimal(0)
    supply_apy: Decimal | None = None
    borrow_apy: Decimal | None = None
    health_factor: Decimal | None = Field(
        default=None, description="The account's health factor in this protocol on this chain (None: no debt)."
    )
    liquidation_threshold: Decimal | None = Field(
        default=None,
        description="The threshold that applies to this collateral for this account (Aave: eMode-aware).",
    )
    withdrawing: int = Field(
        default=0, ge=0, description="Base units on their way out (EigenLayer queued withdrawals), not in supplied."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What could not be read or priced (a USD value left out is counted as 0 in the *_usd fields).",
    )


class SourceStatus(BaseModel):
    """How fresh one (chain, protocol) reading is."""

    model_config = ConfigDict(frozen=True)

    chain_id: int
    protocol: ProtocolSlug
    as_of: datetime
    block_number: int | None = None
    stale: bool = False
    error: str | None = None


class PositionReading(BaseModel):
    positions: list[Position] = Field(default_factory=list)
    sources: list[SourceStatus] = Field(default_factory=list)


class PositionSource(Protocol):
    """Reads every position of `addresses` on `chain_ids` across the supported protocols."""

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading: ...


class NoPositionSource:
    """Used until the chain data layer is wired: no positions and no sources (never fake data)."""

    def read(self, chain_ids: Sequence[int], addresses: Sequence[str]) -> PositionReading:
        return PositionReading()


class RiskForecaster(Protocol):
    """Liquidation-risk forecast per position, from the risk function (absent until it exists)."""

    def forecast(self, positions: Sequence[Position]) -> dict[str, object]: ...
