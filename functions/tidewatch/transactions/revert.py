"""Decode why a call reverted: Error(string), Panic(uint256) and the known protocols' custom errors.

Aave v3.0-v3.3 revert with numeric string codes ("35") and v3.4+ with custom errors
(`HealthFactorLowerThanLiquidationThreshold()`); both are named from Aave's `Errors.sol`.
Compound III reverts with argument-less custom errors (`NotCollateralized()`), named here from the
Comet ABI. Unknown selectors are shown as hex so the user still sees something actionable.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from tidewatch.protocols.aave_errors import AAVE_CUSTOM_ERRORS, AAVE_ERROR_CODES

ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)

# Solidity panic codes (docs.soliditylang.org, "Panic via assert and error via require").
PANIC_CODES = {
    0x00: "generic compiler panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}

# Aave v3's numeric codes (v3.0-v3.3) and custom errors (v3.4+), from Aave's Errors.sol.
AAVE_ERRORS = AAVE_ERROR_CODES

# Compound III Comet custom errors (CometMainInterface.sol) and EigenLayer StrategyManager errors.
_CUSTOM_ERRORS = (
    "Absurd()",
    "AlreadyInitialized()",
    "ApproveFailed()",
    "BadAsset()",
    "BadDecimals()",
    "BadDiscount()",
    "BadMinimum()",
    "BadPrice()",
    "BorrowTooSmall()",
    "BorrowCFTooLarge()",
    "InsufficientReserves()",
    "LiquidateCFTooLarge()",
    "NoSelfTransfer()",
    "NotCollateralized()",
    "NotForSale()",
    "NotLiquidatable()",
    "Paused()",
    "ReentrantCallBlocked()",
    "SupplyCapExceeded()",
    "TimestampTooLarge()",
    "TooManyAssets()",
    "TooMuchSlippage()",
    "TransferInFailed(bytes)",  # current Comet; earlier implementations had no argument
    "TransferOutFailed(bytes)",
    "TransferInFailed()",
    "TransferOutFailed()",
    "Unauthorized()",
    # EigenLayer StrategyManager / StrategyBase (v1.x custom errors)
    "StrategyNotWhitelisted()",
    "MaxStrategiesExceeded()",
    "OnlyStrategyManager()",
    "OnlyUnderlyingToken()",
    "NewSharesZero()",
    "MaxPerDepositExceedsMax()",
    "BalanceExceedsMaxTotalDeposits()",
    "CurrentlyPaused()",
    # OpenZeppelin v5 ERC-20 errors (ERC20InsufficientBalance(address,uint256,uint256), ...)
    "ERC20InsufficientBalance(address,uint256,uint256)",
    "ERC20InsufficientAllowance(address,uint256,uint256)",
)
CUSTOM_ERRORS: dict[bytes, str] = {**AAVE_CUSTOM_ERRORS, **{keccak(text=sig)[:4]: sig for sig in _CUSTOM_ERRORS}}


def decode_revert(data: bytes | str | None) -> str:
    """A one-line reason for revert `data` (raw bytes or 0x-hex)."""
    raw = _as_bytes(data)
    if not raw:
        return "reverted without a reason"
    selector, body = raw[:4], raw[4:]
    if selector == ERROR_STRING:
        try:
            (message,) = abi_decode(["string"], body)
        except Exception:  # malformed payload: show it rather than fail
            return f"reverted with undecodable Error(string) 0x{raw.hex()}"
        return _named(str(message))
    if selector == PANIC:
        try:
            (code,) = abi_decode(["uint256"], body)
        except Exception:
            return f"panic (undecodable) 0x{raw.hex()}"
        return f"panic 0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic code')}"
    signature = CUSTOM_ERRORS.get(selector)
    if signature is not None:
        return _custom(signature, body)
    return f"reverted with unknown error 0x{raw.hex()[:200]}"


def _named(message: str) -> str:
    # Aave's numeric codes, and devnet contracts that `revert("NotCollateralized()")` as strings.
    if message in AAVE_ERRORS:
        return f"{AAVE_ERRORS[message]} (Aave error {message})"
    return message


def _custom(signature: str, body: bytes) -> str:
    inner = signature[signature.index("(") + 1 : -1]
    if not inner:
        return signature.removesuffix("()")
    types = inner.split(",")
    try:
        values = abi_decode(types, body)
    except Exception:
        return signature
    return f"{signature.split('(')[0]}({', '.join(str(v) for v in values)})"


def revert_data_from_error(data: Any) -> bytes | None:
    """The revert bytes inside a JSON-RPC error's `data` (a hex string, or {"data": "0x..."})."""
    if isinstance(data, dict):
        data = data.get("data") or data.get("result")
    if isinstance(data, str) and data.startswith("0x"):
        return _as_bytes(data)
    return None


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""
