"""EIP-1271 through a local JSON-RPC stand-in (an HTTP server on localhost speaking eth_call)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from tidewatch.identity.eip1271 import ContractWallets, encode_is_valid_signature, json_rpc_eth_call
from tidewatch.identity.signatures import EIP1271_MAGIC_VALUE

pytestmark = pytest.mark.integration

WALLET = "0x000000000000000000000000000000000000dEaD"
GOOD_SIGNATURE = b"\x01" * 65
HASH = b"\x02" * 32


class FakeNode(BaseHTTPRequestHandler):
    """Answers isValidSignature like a smart wallet that accepts only GOOD_SIGNATURE; reverts otherwise."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeNode.calls.append(request)
        call = request["params"][0]
        data = bytes.fromhex(call["data"][2:])
        if call["to"] == WALLET and data == encode_is_valid_signature(HASH, GOOD_SIGNATURE):
            answer: dict[str, Any] = {"result": "0x" + (EIP1271_MAGIC_VALUE + b"\x00" * 28).hex()}
        else:
            answer = {"error": {"code": 3, "message": "execution reverted"}}
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"]} | answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def node_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), FakeNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_contract_wallet_accepts_its_signature_and_rejects_others(node_url: str) -> None:
    # Given a dead first RPC URL and a working second one for Base
    wallets = ContractWallets(json_rpc_eth_call({8453: ["http://127.0.0.1:1", node_url]}, timeout=2))
    # Then the wallet's accepted signature is valid, through failover
    assert wallets.is_valid_signature(8453, WALLET, HASH, GOOD_SIGNATURE)
    # And another signature (the contract reverts) is not
    assert not wallets.is_valid_signature(8453, WALLET, HASH, b"\x03" * 65)
    # And a chain with no RPC configured is not
    assert not wallets.is_valid_signature(1, WALLET, HASH, GOOD_SIGNATURE)
    assert FakeNode.calls[0]["method"] == "eth_call"
