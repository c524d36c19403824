"""The word-by-word ABI paths (static outputs, aggregate3 calldata and results) against eth_abi.

Backfills decode hundreds of thousands of values; the fast paths must give exactly what eth_abi
gives, and leave every input they do not read plainly to eth_abi (which raises as before).
"""

from __future__ import annotations

import random

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, _decode_aggregate3, aggregate_data, decode_aggregate

STATIC = [f for f in abi.ALL_FUNCTIONS if f.outputs and abi._static_layout(f.outputs) is not False]


def _outcome(fn: object) -> str:
    try:
        return repr(fn())  # type: ignore[operator]
    except Exception as exc:
        return type(exc).__name__


def _word(rng: random.Random) -> bytes:
    pick = rng.random()
    if pick < 0.3:
        return bytes(31) + bytes([rng.choice([0, 1, 2, 255])])
    if pick < 0.55:
        return bytes(12) + rng.randbytes(20)
    if pick < 0.65:
        return b"\xff" * 32
    return rng.randbytes(32)


@pytest.mark.parametrize("function", STATIC, ids=lambda f: f.signature)
def test_static_outputs_decode_as_eth_abi_decodes_them(function: abi.Function) -> None:
    # Given random words (valid values, non-zero padding, bools other than 0/1, short data)
    rng = random.Random(function.signature)
    words = abi._count_words(abi._static_layout(function.outputs))
    for _ in range(200):
        data = b"".join(_word(rng) for _ in range(words))
        if rng.random() < 0.1:
            data = data[: rng.randrange(len(data))]
        # When decoded, Then the value (or the error) is eth_abi's
        assert _outcome(lambda data=data: function.decode(data)) == _outcome(
            lambda data=data: tuple(abi_decode(list(function.outputs), data))
        )


def test_dynamic_outputs_still_go_to_eth_abi() -> None:
    # Given a function returning address[] (not a static layout)
    data = abi_encode(["address[]"], [["0x" + "ab" * 20, "0x" + "cd" * 20]])
    # When decoded, Then it is eth_abi's answer
    assert abi.AAVE_GET_RESERVES_LIST.decode(data) == (("0x" + "ab" * 20, "0x" + "cd" * 20),)


def test_aggregate3_calldata_is_eth_abis_encoding() -> None:
    rng = random.Random(3)
    for n in range(12):
        # Given calls of every calldata length
        calls = [
            Call("0x" + rng.randbytes(20).hex(), abi.ERC20_BALANCE_OF, ("0x" + rng.randbytes(20).hex(),))
            for _ in range(n)
        ] + [Call("0x" + "11" * 20, abi.COMET_GET_UTILIZATION)]
        # When encoded, Then it is the selector and eth_abi's encoding with allowFailure=true
        items = [(c.target, True, c.calldata()) for c in calls]
        expected = abi.MULTICALL3_AGGREGATE3.selector + abi_encode(list(abi.MULTICALL3_AGGREGATE3.inputs), [items])
        assert aggregate_data(calls) == "0x" + expected.hex()


def test_aggregate3_results_decode_as_eth_abi_and_odd_layouts_fall_back() -> None:
    rng = random.Random(4)
    for _ in range(2000):
        results = [
            (rng.random() < 0.5, rng.randbytes(rng.choice([0, 1, 32, 64, 65]))) for _ in range(rng.randint(0, 6))
        ]
        raw = abi_encode(["(bool,bytes)[]"], [results])
        # Given a canonical answer, Then it is read as eth_abi reads it
        assert _decode_aggregate3(raw) == [tuple(r) for r in abi_decode(["(bool,bytes)[]"], raw)[0]]
        # Given a damaged one, Then either eth_abi would read the same, or it is left to eth_abi
        damaged = bytearray(raw)
        damaged[rng.randrange(len(damaged))] ^= rng.choice([1, 0xFF])
        got = _decode_aggregate3(bytes(damaged))
        if got is not None:
            assert got == [tuple(r) for r in abi_decode(["(bool,bytes)[]"], bytes(damaged))[0]]


def test_an_empty_aggregate_answer_still_raises() -> None:
    # Given "0x" (no Multicall3 at that block), When decoded, Then it raises as before
    with pytest.raises(Exception):  # noqa: B017, PT011 - eth_abi's InsufficientDataBytes
        decode_aggregate([Call("0x" + "11" * 20, abi.COMET_GET_UTILIZATION)], "0x")
