"""Multicall3 `aggregate3` batching: many view calls in one `eth_call`, all at one block.

Calls are sent with `allowFailure=true`, so one reverting call fails only its own result. Large
batches are split into chunks (each an `aggregate3` eth_call) that travel together in ONE JSON-RPC
batch request pinned to the same block number: the round-trip count does not grow with the number
of calls.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from tidewatch.chain.abi import MULTICALL3_AGGREGATE3, Function
from tidewatch.chain.rpc import ChainClient

# Ethereum mainnet, Base and most EVM chains: the same deterministic deployment address.
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
DEFAULT_CHUNK_SIZE = 400  # calls per aggregate3: stays far below eth_call gas caps


@dataclass(frozen=True)
class Call:
    target: str
    function: Function
    args: tuple[Any, ...] = ()

    def calldata(self) -> bytes:
        try:
            return _calldata(self.function, self.args)
        except TypeError:  # an unhashable argument (a list): encoded each time
            return self.function.encode(*self.args)


@functools.lru_cache(maxsize=65536)
def _calldata(function: Function, args: tuple[Any, ...]) -> bytes:
    """The same call is read at every block of a backfill and every tick of ingest: encode once."""
    return function.encode(*args)


@dataclass(frozen=True)
class CallResult:
    ok: bool
    value: tuple[Any, ...] | None = None
    error: str | None = None

    def one(self) -> Any:
        if not self.ok or self.value is None:
            raise CallFailed(self.error or "call failed")
        return self.value[0]

    def all(self) -> tuple[Any, ...]:
        if not self.ok or self.value is None:
            raise CallFailed(self.error or "call failed")
        return self.value


class CallFailed(Exception):
    """One call of a batch reverted or returned undecodable data."""


def _decode_result(call: Call, success: bool, data: bytes) -> CallResult:
    if not success:
        return CallResult(False, error=f"{call.function.name} reverted{_revert_reason(data)}")
    try:
        return CallResult(True, call.function.decode(data))
    except Exception as exc:  # empty return (no contract at address) or wrong ABI
        return CallResult(False, error=f"{call.function.name}: undecodable result ({type(exc).__name__})")


def _revert_reason(data: bytes) -> str:
    if data[:4] == bytes.fromhex("08c379a0"):
        try:
            return f": {abi_decode(['string'], data[4:])[0]}"
        except Exception:  # noqa: S110 - the reason is only decoration
            pass
    return ""


def aggregate_data(calls: Sequence[Call]) -> str:
    """The hex calldata of `aggregate3(calls)` with allowFailure=true on every call."""
    items = [(c.target, c.calldata()) for c in calls]
    encoded = _encode_aggregate3(items)
    if encoded is None:
        encoded = abi_encode(list(MULTICALL3_AGGREGATE3.inputs), [[(t, True, d) for t, d in items]])
    return "0x" + (MULTICALL3_AGGREGATE3.selector + encoded).hex()


def aggregate_payload(
    multicall: str, calls: Sequence[Call], block: int | str, *, data: str | None = None
) -> tuple[str, list[Any]]:
    """The eth_call of `aggregate3(calls)` at `block` (`data`: the calldata, if already encoded)."""
    tag = hex(block) if isinstance(block, int) else block
    return "eth_call", [{"to": multicall, "data": data or aggregate_data(calls)}, tag]


_WORD = 32
_TRUE = (1).to_bytes(32, "big")
_THREE_WORDS = (3 * _WORD).to_bytes(32, "big")


def _encode_aggregate3(items: Sequence[tuple[str, bytes]]) -> bytes | None:
    """ABI encoding of `(address,bool,bytes)[]` (allowFailure true), as eth_abi writes it; None
    for a target that is not a 0x-prefixed 20-byte hex address (eth_abi then decides)."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = _WORD * len(items)
    for target, data in items:
        if len(target) != 42 or target[:2] not in ("0x", "0X"):
            return None
        try:
            address = bytes.fromhex(target[2:])
        except ValueError:
            return None
        padded = data + bytes(-len(data) % _WORD)
        element = b"".join((bytes(12), address, _TRUE, _THREE_WORDS, len(data).to_bytes(32, "big"), padded))
        heads.append(offset.to_bytes(32, "big"))
        tails.append(element)
        offset += len(element)
    return b"".join(((_WORD).to_bytes(32, "big"), len(items).to_bytes(32, "big"), *heads, *tails))


def _decode_aggregate3(raw: bytes) -> list[tuple[bool, bytes]] | None:
    """`(bool,bytes)[]` read word by word when `raw` is laid out exactly as an ABI encoder writes
    it (what nodes return); None for anything else (eth_abi then decides, and raises as before)."""
    size = len(raw)

    def word(at: int) -> int:
        if at + _WORD > size:
            raise IndexError(at)
        return int.from_bytes(raw[at : at + _WORD], "big")

    try:
        if word(0) != _WORD:
            return None
        count = word(_WORD)
        start = 2 * _WORD
        expected = _WORD * count  # where the next element must begin, relative to `start`
        out: list[tuple[bool, bytes]] = []
        for i in range(count):
            if word(start + i * _WORD) != expected:
                return None
            element = start + expected
            flag = word(element)
            if flag > 1 or word(element + _WORD) != 2 * _WORD:
                return None
            length = word(element + 2 * _WORD)
            data_at = element + 3 * _WORD
            end = data_at + length
            padded_end = end + (-length % _WORD)
            if padded_end > size or any(raw[end:padded_end]):
                return None
            out.append((flag == 1, bytes(raw[data_at:end])))
            expected = padded_end - start
        return out if start + expected == size else None
    except IndexError:
        return None


def decode_aggregate(calls: Sequence[Call], raw_hex: str) -> list[CallResult]:
    raw = bytes.fromhex(raw_hex[2:])
    results = _decode_aggregate3(raw)
    if results is None:
        (results,) = MULTICALL3_AGGREGATE3.decode(raw)
    return [_decode_result(call, ok, data) for call, (ok, data) in zip(calls, results, strict=True)]


def aggregate(
    client: ChainClient,
    multicall: str,
    calls: Sequence[Call],
    *,
    block: int | str = "latest",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[CallResult]:
    """Run `calls` through aggregate3 at `block` in one round trip; results in call order."""
    if not calls:
        return []
    chunks = [calls[i : i + chunk_size] for i in range(0, len(calls), chunk_size)]
    raws = client.batch([aggregate_payload(multicall, chunk, block) for chunk in chunks])
    results: list[CallResult] = []
    for chunk, raw in zip(chunks, raws, strict=True):
        results.extend(decode_aggregate(chunk, raw))
    return results


@dataclass(frozen=True)
class BlockRef:
    number: int
    timestamp: int
