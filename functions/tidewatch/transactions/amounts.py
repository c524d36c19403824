"""Amount helpers shared by every adapter's transaction steps: units, requested amounts, refusals."""

from __future__ import annotations

from decimal import Decimal

from tidewatch.protocols.registry import Asset
from tidewatch.transactions.errors import AmountExceedsBalance, UnsupportedIntent
from tidewatch.transactions.models import Intent
from tidewatch.transactions.settings import WalletSettings

MAX_UINT256 = 2**256 - 1


def same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def matches(asset: Asset, wanted: str) -> bool:
    """`wanted` is an address (compared case-insensitively) or a symbol."""
    return same(asset.address, wanted) if wanted.startswith("0x") else asset.symbol.lower() == wanted.lower()


def units(amount: int, decimals: int) -> str:
    """Base units to a human string without float noise: 1500000, 6 -> "1.5"."""
    value = Decimal(amount) / (Decimal(10) ** decimals)
    return format(value.normalize(), "f")


def to_base_units(human: str, decimals: int) -> int:
    scaled = Decimal(human) * (Decimal(10) ** decimals)
    if scaled != scaled.to_integral_value():
        raise UnsupportedIntent(f"{human} has more than {decimals} decimals", field="amount")
    return int(scaled)


def requested(intent: Intent, decimals: int) -> int | None:
    """The exact amount asked for, or None for "max"."""
    if intent.amount_base_units is not None:
        return intent.amount_base_units
    if intent.wants_max:
        return None
    assert intent.amount is not None
    return to_base_units(intent.amount, decimals)


def exceeds(what: str, amount: int, available: int, token: Asset) -> AmountExceedsBalance:
    return AmountExceedsBalance(
        f"{units(amount, token.decimals)} {token.symbol} exceeds {what} of {units(available, token.decimals)} "
        f"{token.symbol}",
        field="amount",
        requested=str(amount),
        available=str(available),
    )


def wallet_amount(intent: Intent, token: Asset, wallet_balance: int) -> int:
    """A supply/deposit amount: the request, or the whole wallet balance for "max"; refused above it."""
    want = requested(intent, token.decimals)
    amount = wallet_balance if want is None else want
    if amount == 0:
        raise exceeds("your wallet balance", 1, 0, token)
    if amount > wallet_balance:
        raise exceeds("your wallet balance", amount, wallet_balance, token)
    return amount


def repay_max_allowance(debt: int, settings: WalletSettings) -> int:
    """What a repay-all must approve: today's debt plus a buffer for the interest that accrues
    until inclusion. Never capped at the wallet balance: an allowance below the debt at
    inclusion makes repay(max) revert, while an allowance above the balance costs nothing."""
    return debt + debt * settings.repay_max_buffer_bps // 10_000 + 1


def repay_amounts(
    want: int | None, debt: int, wallet_balance: int, token: Asset, settings: WalletSettings
) -> tuple[int, int, str]:
    """(amount passed to the protocol, amount to approve, what the user is shown) for a repay.

    `want` None is "repay all": MAX_UINT256 lets the protocol repay the debt at inclusion, interest
    included, so the approval carries a buffer above today's debt. Refused above the debt or the
    wallet balance."""
    if want is None:
        if debt > wallet_balance:
            raise exceeds("your wallet balance (needed to repay the whole debt)", debt, wallet_balance, token)
        return MAX_UINT256, repay_max_allowance(debt, settings), f"all ({units(debt, token.decimals)})"
    if want > debt:
        raise exceeds('your debt (use "max" to repay all of it)', want, debt, token)
    if want > wallet_balance:
        raise exceeds("your wallet balance", want, wallet_balance, token)
    return want, want, units(want, token.decimals)
