"""Revert reasons and EIP-1559 fee options (pure functions, no chain)."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from tidewatch.transactions.fees import quote_from_history
from tidewatch.transactions.revert import decode_revert, revert_data_from_error
from tidewatch.transactions.settings import WalletSettings


def _error_string(message: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], [message])


def test_error_string_is_decoded_and_aave_codes_are_named() -> None:
    assert decode_revert(_error_string("ERC20: insufficient allowance")) == "ERC20: insufficient allowance"
    assert decode_revert(_error_string("35")) == "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD (Aave error 35)"
    assert decode_revert("0x" + _error_string("36").hex()) == "COLLATERAL_CANNOT_COVER_NEW_BORROW (Aave error 36)"


def test_panic_codes_are_explained() -> None:
    data = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert decode_revert(data) == "panic 0x11: arithmetic overflow or underflow"
    assert decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x99])) == "panic 0x99: unknown panic code"


def test_known_custom_errors_are_named_with_their_arguments() -> None:
    assert decode_revert(keccak(text="NotCollateralized()")[:4]) == "NotCollateralized"
    spender = "0x" + "ab" * 20
    data = keccak(text="ERC20InsufficientAllowance(address,uint256,uint256)")[:4] + encode(
        ["address", "uint256", "uint256"], [spender, 5, 10]
    )
    assert decode_revert(data) == f"ERC20InsufficientAllowance({spender}, 5, 10)"


def test_unknown_and_empty_reverts_still_say_something() -> None:
    assert decode_revert(b"") == "reverted without a reason"
    assert decode_revert(None) == "reverted without a reason"
    assert decode_revert(bytes.fromhex("deadbeef")) == "reverted with unknown error 0xdeadbeef"
    assert decode_revert(bytes.fromhex("08c379a0") + b"\x00").startswith("reverted with undecodable Error(string)")


def test_revert_data_is_found_in_the_shapes_nodes_use() -> None:
    assert revert_data_from_error("0x1234") == bytes.fromhex("1234")
    assert revert_data_from_error({"data": "0xabcd"}) == bytes.fromhex("abcd")
    assert revert_data_from_error("execution reverted") is None
    assert revert_data_from_error(None) is None


def test_fee_options_use_next_base_fee_and_ordered_tips() -> None:
    # Given 3 blocks of history with the next block's base fee at 20 gwei
    gwei = 10**9
    history = {
        "baseFeePerGas": [hex(18 * gwei), hex(19 * gwei), hex(19 * gwei), hex(20 * gwei)],
        "reward": [
            [hex(1 * gwei), hex(2 * gwei), hex(5 * gwei)],
            [hex(1 * gwei), hex(3 * gwei), hex(4 * gwei)],
            [hex(2 * gwei), hex(2 * gwei), hex(9 * gwei)],
        ],
    }
    # When fees are quoted (base fee doubled for headroom, plus the median tip of each percentile)
    quote = quote_from_history(history, WalletSettings())
    # Then
    assert quote.base_fee_per_gas == 20 * gwei
    assert quote.slow.max_priority_fee_per_gas == 1 * gwei
    assert quote.normal.max_priority_fee_per_gas == 2 * gwei
    assert quote.fast.max_priority_fee_per_gas == 5 * gwei
    assert quote.normal.max_fee_per_gas == 40 * gwei + 2 * gwei


def test_quiet_chain_gets_the_tip_floor_and_percentiles_never_cross() -> None:
    # Given empty blocks (zero rewards) and crossing percentiles
    history = {"baseFeePerGas": ["0x7", "0x7"], "reward": [["0x0", "0x0", "0x0"]]}
    quote = quote_from_history(history, WalletSettings(min_priority_fee_wei=1000))
    assert quote.slow.max_priority_fee_per_gas == 1000
    assert quote.fast.max_priority_fee_per_gas == 1000
    crossing = {"baseFeePerGas": ["0x1"], "reward": [["0x9", "0x5", "0x1"]]}
    quote = quote_from_history(crossing, WalletSettings(min_priority_fee_wei=0))
    tips = [quote.slow, quote.normal, quote.fast]
    assert [t.max_priority_fee_per_gas for t in tips] == [9, 9, 9]
