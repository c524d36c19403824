"""Multicall3 `aggregate3` batching: many view calls in one `eth_call`, all at one block.

Calls are sent with `allowFailure=true`, so one reverting call fails only its own result. Large
batches are split into chunks (each an `aggregate3` eth_call) that travel together in ONE JSON-RPC
batch request pinned to the same block number: the round-trip count does not grow with the number
of calls.
"""

from __future__ import annotations

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
        return self.function.encode(*self.args)


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


def aggregate_payload(multicall: str, calls: Sequence[Call], block: int | str) -> tuple[str, list[Any]]:
    encoded = abi_encode(list(MULTICALL3_AGGREGATE3.inputs), [[(c.target, True, c.calldata()) for c in calls]])
    data = "0x" + (MULTICALL3_AGGREGATE3.selector + encoded).hex()
    tag = hex(block) if isinstance(block, int) else block
    return "eth_call", [{"to": multicall, "data": data}, tag]


def decode_aggregate(calls: Sequence[Call], raw_hex: str) -> list[CallResult]:
    (results,) = MULTICALL3_AGGREGATE3.decode(bytes.fromhex(raw_hex[2:]))
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
