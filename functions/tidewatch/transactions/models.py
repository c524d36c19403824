"""Typed payloads of the wallet function and what it returns (pydantic at every boundary).

Amounts are exact integers in base units; the intent may give human units ("1.5"), exact base
units, or "max" where the protocol supports it. Quantities in transactions are JSON-RPC hex
strings, exactly what `eth_sendTransaction` takes, and `from` is spelled `from`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from tidewatch.bounds import INTEGER_MAX
from tidewatch.intents import RuleIntent, Speed
from tidewatch.protocols.slugs import ProtocolSlug

Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
HexData = Annotated[str, Field(pattern=r"^0x([0-9a-fA-F]{2})*$")]
HexQuantity = Annotated[str, Field(pattern=r"^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$")]
Action = Literal["supply", "withdraw", "borrow", "repay", "deposit"]
Status = Literal["prepared", "submitted", "confirmed", "failed", "replaced"]

# Which actions each protocol supports, and where "max" is meaningful.
ACTIONS: dict[ProtocolSlug, tuple[str, ...]] = {
    "aave-v3": ("supply", "withdraw", "borrow", "repay"),
    "compound-v3": ("supply", "withdraw", "repay"),
    "eigenlayer": ("deposit",),
}
MAX_UNSUPPORTED: frozenset[tuple[str, str]] = frozenset({("aave-v3", "borrow")})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


class Intent(_Strict):
    """What the user wants done, e.g. "supply 1,000 USDC to Aave v3 on Ethereum from 0xabc…"."""

    chain_id: int = Field(gt=0, le=INTEGER_MAX, description="1 = Ethereum, 8453 = Base (must match the node).")
    protocol: ProtocolSlug
    action: Action
    from_address: Address = Field(alias="from", description="The signer: one of your portfolio addresses.")
    asset: str = Field(min_length=1, max_length=42, description="Token symbol (USDC) or address.")
    amount: str | None = Field(default=None, max_length=80, description='Human units ("1.5") or "max" where supported.')
    amount_base_units: int | None = Field(default=None, gt=0, lt=2**256, description="Exact base units.")
    market: str | None = Field(
        default=None,
        max_length=42,
        description="Compound: the Comet address or its base symbol; EigenLayer: the strategy address.",
    )
    speed: Speed = "normal"

    @field_validator("amount")
    @classmethod
    def _amount_shape(cls, value: str | None) -> str | None:
        if value is None or value == "max":
            return value
        try:
            parsed = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError('amount must be a decimal number of token units or "max"') from exc
        if not parsed.is_finite() or parsed <= 0:
            raise ValueError("amount must be positive")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Intent:
        if (self.amount is None) == (self.amount_base_units is None):
            raise ValueError("give exactly one of amount (human units or 'max') and amount_base_units")
        if self.action not in ACTIONS[self.protocol]:
            raise ValueError(f"{self.protocol} supports {', '.join(ACTIONS[self.protocol])}, not {self.action}")
        if self.amount == "max" and (self.protocol, self.action) in MAX_UNSUPPORTED:
            raise ValueError(f'"max" is not supported for {self.protocol} {self.action}')
        return self

    @property
    def wants_max(self) -> bool:
        return self.amount == "max"


AnyIntent = Intent | RuleIntent


class MarketRow(_Strict):
    """A row of the `markets` table (what rules refer to by id)."""

    id: int
    chain_id: int
    protocol: str
    market_key: str
    asset_symbol: str
    asset_address: str
    asset_decimals: int


class DecodedCall(_Strict):
    function: str  # canonical signature, e.g. "supply(address,uint256,address,uint16)"
    args: dict[str, Any]  # named arguments, ints as decimal strings (JSON has no uint256)


class UnsignedTransaction(_Strict):
    """Ready for `eth_sendTransaction` (type 2), plus what it does in words and decoded."""

    from_address: Address = Field(alias="from")
    to: Address
    data: HexData
    value: HexQuantity = "0x0"
    chain_id: HexQuantity = Field(alias="chainId")
    gas: HexQuantity
    max_fee_per_gas: HexQuantity = Field(alias="maxFeePerGas")
    max_priority_fee_per_gas: HexQuantity = Field(alias="maxPriorityFeePerGas")
    nonce: HexQuantity
    type: Literal["0x2"] = "0x2"
    summary: str
    decoded: DecodedCall
    simulated_gas_used: int = Field(ge=0, description="Gas the pending-state simulation used.")
    status: Status = "prepared"
    hash: str | None = None


class FeeOption(_Strict):
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class FeeQuote(_Strict):
    """EIP-1559 fees from eth_feeHistory: the next block's base fee and three tip percentiles."""

    base_fee_per_gas: int
    slow: FeeOption
    normal: FeeOption
    fast: FeeOption

    def option(self, speed: Speed) -> FeeOption:
        option: FeeOption = getattr(self, speed)
        return option


class PreparedTransactions(_Strict):
    """An ordered list: sign and send them in order (an approval, when needed, comes first)."""

    # `transaction_id` is serialised too (the rules function reads it): ignore it on the way back in.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, serialize_by_alias=True)

    id: UUID
    status: Status
    chain_id: int
    summary: str
    intent: AnyIntent
    transactions: list[UnsignedTransaction]
    fees: FeeQuote
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    error: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def transaction_id(self) -> UUID:
        return self.id


class PrepareRequest(_Strict):
    """Payload of the wallet function: prepare the transactions of one intent for a user."""

    action: Literal["prepare"] = "prepare"
    user_id: int = Field(gt=0)
    intent: AnyIntent
    portfolio_id: int | None = Field(default=None, gt=0, description="Required for rule intents.")
    rule_id: int | None = Field(default=None, gt=0)
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=200, description="A retried request returns the same result."
    )


class BroadcastRequest(_Strict):
    """A signed transaction to relay (`raw_transaction`), or the hash of one the user's wallet
    already sent itself (`tx_hash`: wallets such as MetaMask sign and send in one step)."""

    action: Literal["broadcast"] = "broadcast"
    user_id: int = Field(gt=0)
    transaction_id: UUID
    raw_transaction: HexData | None = Field(default=None, min_length=4, max_length=2 * 128 * 1024)
    tx_hash: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> BroadcastRequest:
        if (self.raw_transaction is None) == (self.tx_hash is None):
            raise ValueError("give exactly one of raw_transaction or tx_hash")
        return self


class BroadcastResult(_Strict):
    transaction_id: UUID
    index: int  # which of the prepared transactions was sent
    hash: str
    status: Status


class PollRequest(_Strict):
    """Check the receipts of submitted transactions (a schedule sends this every minute)."""

    action: Literal["poll"] = "poll"
    limit: int = Field(default=200, ge=1, le=1000)


class PollResult(_Strict):
    checked: int
    confirmed: int
    failed: int
    replaced: int
    still_pending: int
    round_trips: int


class TransactionPage(_Strict):
    items: list[PreparedTransactions]
    next_cursor: str | None = None
