"""EIP-1271 over plain JSON-RPC `eth_call` (no web3 import on the API's path).

`isValidSignature(bytes32 hash, bytes signature)` must return the magic value 0x1626ba7e. A revert,
an account without code or an unreachable node all mean "not valid" for sign-in purposes.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from tidewatch.identity.signatures import EIP1271_MAGIC_VALUE
from tidewatch.observability import logger

# (chain id, contract address, calldata) -> return data
EthCall = Callable[[int, str, bytes], bytes]


class EthCallFailed(Exception):
    """`json_rpc_eth_call` got no answer or an error (the chain layer's failures are `chain.rpc.RpcError`)."""


def encode_is_valid_signature(message_hash: bytes, signature: bytes) -> bytes:
    from eth_abi import encode

    return EIP1271_MAGIC_VALUE + encode(["bytes32", "bytes"], [message_hash, signature])


class ContractWallets:
    """`ContractSignatureChecker` backed by any `eth_call` function (the chain layer's, or `json_rpc_eth_call`)."""

    def __init__(self, eth_call: EthCall) -> None:
        self._eth_call = eth_call

    def is_valid_signature(self, chain_id: int, address: str, message_hash: bytes, signature: bytes) -> bool:
        try:
            result = self._eth_call(chain_id, address, encode_is_valid_signature(message_hash, signature))
        except EthCallFailed as exc:
            logger.info("EIP-1271 call refused", extra={"address": address, "chain_id": chain_id, "error": str(exc)})
            return False
        # The return value is a bytes4 left-aligned in a 32-byte word.
        return len(result) >= 4 and result[:4] == EIP1271_MAGIC_VALUE


def json_rpc_eth_call(rpc_urls: Mapping[int, Sequence[str]], *, timeout: float = 5.0) -> EthCall:
    """An `eth_call` over HTTP JSON-RPC, trying each chain's URLs in order until one answers."""

    def call(chain_id: int, to: str, data: bytes) -> bytes:
        urls = rpc_urls.get(chain_id) or []
        if not urls:
            raise EthCallFailed(f"no RPC URL configured for chain {chain_id}")
        payload = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_call",
                "params": [{"to": to, "data": "0x" + data.hex()}, "latest"],
            }
        ).encode()
        last_error: Exception | None = None
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise EthCallFailed(f"unsupported RPC URL scheme: {url[:16]}")
            request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
                    body = json.loads(response.read())
            except (OSError, ValueError) as exc:  # this node is down or garbled: try the next one
                last_error = exc
                continue
            if "error" in body:  # the node answered: a revert is a verdict, not an outage
                raise EthCallFailed(str(body["error"].get("message", body["error"]))[:200])
            result = body.get("result") or "0x"
            return bytes.fromhex(result[2:])
        raise EthCallFailed(f"every RPC URL of chain {chain_id} failed: {last_error}")

    return call
