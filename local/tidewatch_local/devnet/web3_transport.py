"""A `tidewatch.chain.rpc.Transport` over a web3 provider.

Lets the chain tests drive the production JSON-RPC client (its batching, request counting and
decoding) through web3's provider, one counted request per JSON-RPC payload. Results are
normalised to what an HTTP node returns (hex quantities/data).
"""

from __future__ import annotations

import json
from typing import Any

from web3 import Web3


def _hexify(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: _hexify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hexify(v) for v in value]
    return value


def _block_param(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return value


class Web3Transport:
    """Callable like an HTTP transport; `urls` are ignored (every URL is the same in-process node)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.requests = 0

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.requests += 1
        payload = json.loads(body)
        items = payload if isinstance(payload, list) else [payload]
        out = [self._one(item) for item in items]
        return json.dumps(out if isinstance(payload, list) else out[0]).encode()

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        method, params = item["method"], list(item.get("params", []))
        result: dict[str, Any] = {"jsonrpc": "2.0", "id": item["id"]}
        try:
            if method == "eth_call":
                # Through web3's formatters (a checksummed `from`, block numbers as ints).
                tx = {"to": Web3.to_checksum_address(params[0]["to"]), "data": params[0]["data"]}
                tx["from"] = self.w3.eth.accounts[0]
                block = _block_param(params[1]) if len(params) > 1 else "latest"
                result["result"] = _hexify(bytes(self.w3.eth.call(tx, block)))  # type: ignore[arg-type]
            elif method == "eth_blockNumber":
                result["result"] = hex(self.w3.eth.block_number)
            elif method == "eth_chainId":
                result["result"] = hex(self.w3.eth.chain_id)
            else:
                response = self.w3.provider.make_request(method, params)
                result.update(_hexify({k: v for k, v in response.items() if k in ("result", "error")}))
        except Exception as exc:  # the node's answer to a bad call: a JSON-RPC error, as over HTTP
            result["error"] = {"code": 3, "message": f"execution reverted: {exc}"}
        return result
