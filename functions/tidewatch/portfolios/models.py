"""Portfolio shapes at the API boundary (pydantic), shared by the repository and the service."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from tidewatch.billing.plans import Plan, entitlements_for
from tidewatch.bounds import BIGINT_MAX, ChainId
from tidewatch.errors import InvalidInput
from tidewatch.portfolios.positions import Position, SourceStatus

T = TypeVar("T")
# The schema's bound is the largest plan's; each user's own plan limit (billing.plans) is a 402.
MAX_ADDRESSES = max(entitlements_for(plan).max_addresses_per_portfolio for plan in Plan)


def checksum_address(value: str) -> str:
    """EIP-55 form of a 0x address. All-lower/upper input is accepted; mixed case must checksum."""
    from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

    if not isinstance(value, str) or not is_hex_address(value):
        raise ValueError("must be a 0x-prefixed 20-byte hex address")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise ValueError("mixed-case address with an invalid EIP-55 checksum")
    return str(to_checksum_address(value))


Address = Annotated[
    str, AfterValidator(checksum_address), Field(examples=["0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"])
]


class WalletIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: Address
    label: str | None = Field(default=None, max_length=100)


class Wallet(BaseModel):
    address: str
    label: str | None = None


def _unique_wallets(wallets: list[WalletIn]) -> list[WalletIn]:
    seen: set[str] = set()
    for wallet in wallets:
        if wallet.address in seen:
            raise ValueError(f"duplicate address {wallet.address}")
        seen.add(wallet.address)
    return wallets


def _unique_chains(chains: list[int]) -> list[int]:
    return sorted(set(chains))


class PortfolioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    wallets: Annotated[list[WalletIn], AfterValidator(_unique_wallets)] = Field(
        default_factory=list, max_length=MAX_ADDRESSES
    )
    chains: Annotated[list[ChainId], AfterValidator(_unique_chains)] = Field(
        default_factory=lambda: [1, 8453], min_length=1, max_length=16
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class PortfolioPatch(BaseModel):
    """Partial update: fields left out are unchanged; `wallets` replaces the whole set."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    wallets: Annotated[list[WalletIn], AfterValidator(_unique_wallets)] | None = Field(
        default=None, max_length=MAX_ADDRESSES
    )
    chains: Annotated[list[ChainId], AfterValidator(_unique_chains)] | None = Field(
        default=None, min_length=1, max_length=16
    )


class Portfolio(BaseModel):
    id: int
    name: str
    wallets: list[Wallet]
    chains: list[int]
    created_at: datetime
    updated_at: datetime


class Totals(BaseModel):
    supplied_usd: Decimal
    borrowed_usd: Decimal
    net_worth_usd: Decimal
    min_health_factor: Decimal | None = None


class CacheInfo(BaseModel):
    source: str = Field(description="'cache' (fresh hit), 'origin' (just read) or 'stale' (origin failed).")
    age_seconds: float


class PortfolioView(BaseModel):
    """A portfolio with its positions now; `risk` is present only when the risk function answers."""

    portfolio: Portfolio
    positions: list[Position]
    totals: Totals
    sources: list[SourceStatus]
    cache: CacheInfo
    risk: dict[str, Any] | None = Field(default=None, description="Absent until the risk function is wired.")


class Snapshot(BaseModel):
    id: int
    taken_at: datetime
    net_worth_usd: Decimal
    min_health_factor: Decimal | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end.")


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "id" or not (value.isascii() and value.isdigit() and 0 <= int(value) <= BIGINT_MAX):
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "cursor is not valid", errors=[{"field": "cursor", "message": "not a cursor from this API", "in": "query"}]
        ) from exc


class ChartPoint(BaseModel):
    t: datetime = Field(description="Start of the bucket.")
    net_worth_usd: Decimal
    supplied_usd: Decimal
    borrowed_usd: Decimal
    min_health_factor: Decimal | None = Field(description="Lowest health factor in the bucket (None: no debt).")
    samples: int


class HistoryBackfill(BaseModel):
    """The positions backfill of one address on one chain."""

    address: str
    chain_id: int
    status: Literal["running", "done", "failed"]
    buckets_done: int
    buckets_total: int
    window_start: datetime
    error: str | None = None


class PortfolioChart(BaseModel):
    """Net worth and health factor per hour or day, summed over the portfolio's wallets and chains.

    Hours before the portfolio existed come from the chain (a positions backfill per address);
    later ones too, as the heal schedule keeps each address's series filled."""

    start: datetime
    end: datetime
    bucket: Literal["hour", "day"]
    bucket_seconds: int
    first_timestamp: datetime | None = Field(description="How far back the history goes (None: nothing yet).")
    backfill_running: bool = Field(description="True while a backfill of any wallet is still reading the past.")
    backfills: list[HistoryBackfill]
    gaps: list[dict[str, Any]] = Field(default_factory=list, description="Empty buckets since the first one.")
    points: list[ChartPoint]
