"""The function ABIs Tidewatch calls, by their real signatures (selector = keccak(signature)[:4]).

Only eth_abi/eth_utils are used (no web3), so reading the chain stays cheap to import. Output types
are those of the deployed mainnet contracts; the devnet contracts return the same types.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address


@functools.lru_cache(maxsize=8192)
def checksum(address: str) -> str:
    """EIP-55 form of `address`; cached, since the same contracts come back at every block read."""
    return str(to_checksum_address(address))


def split_types(spec: str) -> tuple[str, ...]:
    """Split "address,(uint8,address)[],bytes" at top-level commas."""
    parts, depth, current = [], 0, ""
    for ch in spec:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    if current:
        parts.append(current)
    return tuple(parts)


@dataclass(frozen=True)
class Function:
    signature: str  # canonical, e.g. "getUserAccountData(address)"
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = field(init=False)
    selector: bytes = field(init=False)

    def __post_init__(self) -> None:
        inner = self.signature[self.signature.index("(") + 1 : -1]
        object.__setattr__(self, "inputs", split_types(inner))
        object.__setattr__(self, "selector", keccak(text=self.signature)[:4])

    @property
    def name(self) -> str:
        return self.signature.split("(", 1)[0]

    def encode(self, *args: Any) -> bytes:
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        # Outputs of fixed-size words only (uint, address, bool, bytes32, static tuples): each value
        # is read from its own 32-byte slot, as eth_abi would read it; anything unusual in those
        # words (short data, non-zero padding, a bool other than 0/1) goes to eth_abi, which
        # decides (and raises) exactly as before.
        words = _STATIC_LAYOUTS.get(self.outputs)
        if words is None:
            words = _STATIC_LAYOUTS[self.outputs] = _static_layout(self.outputs)
        if words is not False:
            fast = _decode_static(words, data)
            if fast is not None:
                return fast
        return tuple(abi_decode(list(self.outputs), data))

    def decode_one(self, data: bytes) -> Any:
        return self.decode(data)[0]


# Per output tuple: its layout of 32-byte words (see `_static_layout`), or False when a type is
# dynamic or not a plain word (strings, arrays, signed integers narrower than 256 bits, ...).
_STATIC_LAYOUTS: dict[tuple[str, ...], Any] = {}
_UINT = re.compile(r"uint(\d+)$")


def _static_layout(types: tuple[str, ...]) -> Any:
    """Each type as ("u", bits) | ("i", 256) | ("a",) | ("b",) | ("w",) (bytes32) | ("t", [layout])."""
    out: list[Any] = []
    for t in types:
        t = t.strip()
        if t.startswith("(") and t.endswith(")"):
            inner = _static_layout(split_types(t[1:-1]))
            if inner is False:
                return False
            out.append(("t", inner))
        elif m := _UINT.match(t):
            out.append(("u", int(m.group(1))))
        elif t == "int256":
            out.append(("i", 256))
        elif t == "address":
            out.append(("a",))
        elif t == "bool":
            out.append(("b",))
        elif t == "bytes32":
            out.append(("w",))
        else:
            return False
    return out


def _count_words(layout: list[Any]) -> int:
    return sum(_count_words(item[1]) if item[0] == "t" else 1 for item in layout)


def _decode_static(layout: list[Any], data: bytes) -> tuple[Any, ...] | None:
    """The values of a static layout, or None when a word is not what eth_abi accepts plainly."""
    if len(data) < 32 * _count_words(layout):
        return None
    values, _ = _read_words(layout, data, 0)
    return values


def _read_words(layout: list[Any], data: bytes, at: int) -> tuple[Any, int]:
    out: list[Any] = []
    for item in layout:
        kind = item[0]
        if kind == "t":
            inner, at = _read_words(item[1], data, at)
            if inner is None:
                return None, at
            out.append(inner)
            continue
        word = data[at : at + 32]
        at += 32
        if kind == "u":
            value = int.from_bytes(word, "big")
            if value >> item[1]:
                return None, at  # non-zero padding above the type's width
            out.append(value)
        elif kind == "i":
            out.append(int.from_bytes(word, "big", signed=True))
        elif kind == "a":
            if any(word[:12]):
                return None, at
            out.append("0x" + word[12:].hex())
        elif kind == "b":
            value = int.from_bytes(word, "big")
            if value > 1:
                return None, at
            out.append(value == 1)
        else:
            out.append(bytes(word))
    return tuple(out), at


U = "uint256"

# ERC-20
ERC20_BALANCE_OF = Function("balanceOf(address)", (U,))
ERC20_ALLOWANCE = Function("allowance(address,address)", (U,))
ERC20_APPROVE = Function("approve(address,uint256)", ("bool",))
ERC20_DECIMALS = Function("decimals()", ("uint8",))
ERC20_SYMBOL = Function("symbol()", ("string",))
ERC20_SYMBOL_BYTES32 = Function("symbol()", ("bytes32",))  # MKR, SAI and other early tokens
ERC20_TOTAL_SUPPLY = Function("totalSupply()", (U,))

# Multicall3 (0xcA11bde05977b3631167028862bE2a173976CA11 on every chain it is deployed to)
MULTICALL3_AGGREGATE3 = Function("aggregate3((address,bool,bytes)[])", ("(bool,bytes)[]",))
MULTICALL3_BLOCK_NUMBER = Function("getBlockNumber()", (U,))
MULTICALL3_BLOCK_TIMESTAMP = Function("getCurrentBlockTimestamp()", (U,))

# Aave v3 Pool
AAVE_GET_USER_ACCOUNT_DATA = Function("getUserAccountData(address)", (U, U, U, U, U, U))
AAVE_GET_RESERVES_LIST = Function("getReservesList()", ("address[]",))
AAVE_SUPPLY = Function("supply(address,uint256,address,uint16)")
AAVE_WITHDRAW = Function("withdraw(address,uint256,address)", (U,))
AAVE_BORROW = Function("borrow(address,uint256,uint256,uint16,address)")
AAVE_REPAY = Function("repay(address,uint256,uint256,address)", (U,))
AAVE_LIQUIDATION_CALL = Function("liquidationCall(address,address,address,uint256,bool)")
AAVE_SET_USER_EMODE = Function("setUserEMode(uint8)")
AAVE_GET_USER_EMODE = Function("getUserEMode(address)", (U,))
# (ltv, liquidationThreshold, liquidationBonus, priceSource, label): v3.0-3.1, and kept in v3.2+
AAVE_GET_EMODE_CATEGORY_DATA = Function("getEModeCategoryData(uint8)", ("(uint16,uint16,uint16,address,string)",))
AAVE_GET_CONFIGURATION = Function("getConfiguration(address)", ("(uint256)",))  # ReserveConfigurationMap
# Aave v3 AaveProtocolDataProvider
AAVE_DP_GET_RESERVE_DATA = Function("getReserveData(address)", (U, U, U, U, U, U, U, U, U, U, U, "uint40"))
AAVE_DP_GET_RESERVE_CONFIGURATION = Function(
    "getReserveConfigurationData(address)", (U, U, U, U, U, "bool", "bool", "bool", "bool", "bool")
)
AAVE_DP_GET_RESERVE_CAPS = Function("getReserveCaps(address)", (U, U))
AAVE_DP_GET_USER_RESERVE_DATA = Function("getUserReserveData(address,address)", (U, U, U, U, U, U, U, "uint40", "bool"))
# Aave v3 AaveOracle (prices in the base currency, USD with 8 decimals)
AAVE_ORACLE_GET_ASSET_PRICE = Function("getAssetPrice(address)", (U,))

# Compound v3 Comet
COMET_GET_UTILIZATION = Function("getUtilization()", (U,))
COMET_GET_SUPPLY_RATE = Function("getSupplyRate(uint256)", ("uint64",))
COMET_GET_BORROW_RATE = Function("getBorrowRate(uint256)", ("uint64",))
COMET_TOTAL_SUPPLY = Function("totalSupply()", (U,))
COMET_TOTAL_BORROW = Function("totalBorrow()", (U,))
COMET_BASE_PRICE_FEED = Function("baseTokenPriceFeed()", ("address",))
COMET_GET_PRICE = Function("getPrice(address)", (U,))
COMET_GET_ASSET_INFO_BY_ADDRESS = Function(
    "getAssetInfoByAddress(address)", ("(uint8,address,address,uint64,uint64,uint64,uint64,uint128)",)
)
COMET_TOTALS_COLLATERAL = Function("totalsCollateral(address)", ("uint128", "uint128"))
COMET_BALANCE_OF = Function("balanceOf(address)", (U,))
COMET_BORROW_BALANCE_OF = Function("borrowBalanceOf(address)", (U,))
COMET_COLLATERAL_BALANCE_OF = Function("collateralBalanceOf(address,address)", ("uint128",))
COMET_IS_LIQUIDATABLE = Function("isLiquidatable(address)", ("bool",))
COMET_SUPPLY = Function("supply(address,uint256)")
COMET_WITHDRAW = Function("withdraw(address,uint256)")
COMET_NUM_ASSETS = Function("numAssets()", ("uint8",))
COMET_GET_ASSET_INFO = Function("getAssetInfo(uint8)", ("(uint8,address,address,uint64,uint64,uint64,uint64,uint128)",))
COMET_BASE_TOKEN = Function("baseToken()", ("address",))
COMET_BASE_BORROW_MIN = Function("baseBorrowMin()", (U,))
COMET_TARGET_RESERVES = Function("targetReserves()", (U,))
COMET_GET_RESERVES = Function("getReserves()", ("int256",))
COMET_IS_SUPPLY_PAUSED = Function("isSupplyPaused()", ("bool",))
COMET_IS_WITHDRAW_PAUSED = Function("isWithdrawPaused()", ("bool",))
COMET_IS_ABSORB_PAUSED = Function("isAbsorbPaused()", ("bool",))
COMET_IS_BUY_PAUSED = Function("isBuyPaused()", ("bool",))
COMET_ABSORB = Function("absorb(address,address[])")
COMET_BUY_COLLATERAL = Function("buyCollateral(address,uint256,uint256,address)")
COMET_QUOTE_COLLATERAL = Function("quoteCollateral(address,uint256)", (U,))
COMET_GET_COLLATERAL_RESERVES = Function("getCollateralReserves(address)", (U,))

# Chainlink AggregatorV3Interface (USD references that convert a Comet numéraire to USD)
CHAINLINK_LATEST_ROUND_DATA = Function("latestRoundData()", ("uint80", "int256", U, U, "uint80"))
CHAINLINK_DECIMALS = Function("decimals()", ("uint8",))

# EigenLayer
EIGEN_DEPOSIT_INTO_STRATEGY = Function("depositIntoStrategy(address,address,uint256)", (U,))
EIGEN_STAKER_DEPOSIT_SHARES = Function("stakerDepositShares(address,address)", (U,))
EIGEN_STRATEGY_TOTAL_SHARES = Function("totalShares()", (U,))
EIGEN_STRATEGY_UNDERLYING_TOKEN = Function("underlyingToken()", ("address",))
EIGEN_STRATEGY_SHARES_TO_UNDERLYING = Function("sharesToUnderlyingView(uint256)", (U,))
EIGEN_STRATEGY_SHARES = Function("shares(address)", (U,))
EIGEN_STRATEGY_USER_UNDERLYING = Function("userUnderlyingView(address)", (U,))
# EigenLayer DelegationManager (slashing release): what a staker can withdraw, and what is queued
EIGEN_DM_GET_WITHDRAWABLE_SHARES = Function("getWithdrawableShares(address,address[])", ("uint256[]", "uint256[]"))
EIGEN_DM_GET_QUEUED_WITHDRAWALS = Function(
    "getQueuedWithdrawals(address)", ("(address,address,address,uint256,uint32,address[],uint256[])[]", "uint256[][]")
)
EIGEN_DM_MIN_WITHDRAWAL_DELAY_BLOCKS = Function("minWithdrawalDelayBlocks()", ("uint32",))
EIGEN_DM_QUEUE_WITHDRAWALS = Function("queueWithdrawals((address[],uint256[],address)[])", ("bytes32[]",))

ALL_FUNCTIONS: tuple[Function, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Function))
