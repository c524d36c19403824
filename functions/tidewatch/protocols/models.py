"""What adapters produce: market snapshots and user positions (pydantic, JSON-ready).

Amounts are exact integers in base units; rates and prices are Decimals (serialised as strings).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tidewatch.protocols.slugs import ProtocolSlug


class MarketSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain_id: int
    protocol: ProtocolSlug
    market_key: str
    asset_symbol: str
    asset_address: str
    asset_decimals: int
    block_number: int
    block_timestamp: int
    supply_apy: Decimal | None = None  # fraction per year: 0.0345 = 3.45 %
    borrow_apy: Decimal | None = None
    supply_apr: Decimal | None = None
    borrow_apr: Decimal | None = None
    utilization: Decimal | None = None  # fraction
    total_supplied: int | None = None  # base units
    total_borrowed: int | None = None
    price_usd: Decimal | None = None
    params: dict[str, Any] = Field(default_factory=dict)  # LTV, thresholds, collateral factors...
    raw: dict[str, int] = Field(default_factory=dict)  # protocol-native rate values, for audits
    # What could not be read or trusted (a reverting feed, a paused market, no USD conversion):
    # the value concerned is left None, never guessed.
    warnings: list[str] = Field(default_factory=list)


class MarketFailure(BaseModel):
    """A market whose reads failed this tick (the other markets of the batch are unaffected)."""

    chain_id: int
    protocol: ProtocolSlug
    market_key: str
    error: str


class TokenAmount(BaseModel):
    symbol: str
    address: str
    decimals: int
    amount: int  # base units
    price_usd: Decimal | None = None
    # For collateral: the liquidation threshold that applies to this holder (Aave: the eMode
    # category's when the user is in the asset's category), as a fraction. None: not collateral.
    liquidation_threshold: Decimal | None = None

    @property
    def value_usd(self) -> Decimal | None:
        if self.price_usd is None:
            return None
        return Decimal(self.amount) / Decimal(10) ** self.decimals * self.price_usd


class ChainPosition(BaseModel):
    """What an adapter reads for one address in one market (or, for Aave, the account across the pool).

    Token lists with exact amounts and protocol-native account data, as the chain holds them; the
    portfolios layer turns each into one `tidewatch.portfolios.positions.Position` row per asset
    (what the API serves, priced and with APYs).
    """

    chain_id: int
    protocol: ProtocolSlug
    market_key: str
    address: str
    supplied: list[TokenAmount] = Field(default_factory=list)
    borrowed: list[TokenAmount] = Field(default_factory=list)
    collateral: list[TokenAmount] = Field(default_factory=list)
    health_factor: Decimal | None = None  # None when there is no debt (or it cannot be computed)
    # Amounts on their way out (EigenLayer queued withdrawals), not counted in `supplied`.
    withdrawing: list[TokenAmount] = Field(default_factory=list)
    account: dict[str, Any] = Field(default_factory=dict)  # protocol-native account data (exact ints)
    warnings: list[str] = Field(default_factory=list)  # see MarketSnapshot.warnings


class PositionsReport(BaseModel):
    address: str
    block_numbers: dict[int, int]  # chain id -> block read at
    positions: list[ChainPosition]
    failures: list[str] = Field(default_factory=list)
