"""The JSON-RPC client: failover between URLs, retry with backoff, clear errors naming the chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tidewatch.chain.rpc import ChainClient, ChainUnavailable, RetryPolicy, RpcError, TransportError, urllib_transport


class ScriptedTransport:
    """Answers per URL from a script: an exception to raise or a JSON-RPC result."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.calls: list[str] = []

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.calls.append(url)
        answer = self.script[url]
        if isinstance(answer, Exception):
            raise answer
        request = json.loads(body)
        if isinstance(answer, dict) and "error" in answer:
            return json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": answer["error"]}).encode()
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": answer}).encode()


def test_fails_over_to_the_next_url_and_sticks_to_it() -> None:
    # Given a first URL that answers 503 and a second that works
    transport = ScriptedTransport({"https://a": TransportError("HTTP 503", status=503), "https://b": "0x10"})
    client = ChainClient(1, ["https://a", "https://b"], transport=transport, sleep=lambda _s: None)
    # When reading twice
    first = client.block_number()
    second = client.block_number()
    # Then the second URL answered both times, and the broken one was tried only once
    assert (first, second) == (16, 16)
    assert transport.calls == ["https://a", "https://b", "https://b"]


def test_retries_with_backoff_when_every_url_is_rate_limited_then_names_the_chain() -> None:
    # Given two URLs that always answer 429
    transport = ScriptedTransport(
        {
            "https://a/key123": TransportError("HTTP 429", status=429, retry_after=1.5),
            "https://b": TransportError("HTTP 502", status=502),
        }
    )
    pauses: list[float] = []
    client = ChainClient(
        8453,
        ["https://a/key123", "https://b"],
        transport=transport,
        retry=RetryPolicy(rounds=3, backoff_seconds=0.5),
        sleep=pauses.append,
    )
    # When reading
    with pytest.raises(ChainUnavailable) as caught:
        client.block_number()
    # Then it tried every URL in 3 rounds, paused between rounds (honouring Retry-After) ...
    assert len(transport.calls) == 6
    assert len(pauses) == 2
    assert all(p >= 1.5 for p in pauses)
    # ... and the error names the chain and each URL (without the secret path)
    message = str(caught.value)
    assert "chain 8453" in message
    assert "HTTP 429" in message
    assert "HTTP 502" in message
    assert "key123" not in message
    assert caught.value.status == 503


def test_a_revert_is_not_retried_elsewhere() -> None:
    # Given a node answering a JSON-RPC execution error
    transport = ScriptedTransport(
        {"https://a": {"error": {"code": 3, "message": "execution reverted"}}, "https://b": "0x1"}
    )
    client = ChainClient(1, ["https://a", "https://b"], transport=transport, sleep=lambda _s: None)
    # When calling
    with pytest.raises(RpcError) as caught:
        client.request("eth_call", [{}, "latest"])
    # Then the deterministic error surfaces at once from the first node
    assert "execution reverted" in str(caught.value)
    assert transport.calls == ["https://a"]


def test_a_rate_limit_error_in_the_json_rpc_body_fails_over() -> None:
    transport = ScriptedTransport(
        {"https://a": {"error": {"code": -32005, "message": "limit exceeded"}}, "https://b": "0x2"}
    )
    client = ChainClient(1, ["https://a", "https://b"], transport=transport, sleep=lambda _s: None)
    assert client.block_number() == 2
    assert client.round_trips == 2


class _Handler(BaseHTTPRequestHandler):
    status = 503

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.status)
        self.send_header("Retry-After", "2")
        self.end_headers()
        self.wfile.write(b"busy")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def busy_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urllib_transport_turns_http_503_into_a_retryable_error(busy_server: str) -> None:
    # Given a local HTTP server answering 503 with Retry-After
    # When posting a request
    with pytest.raises(TransportError) as caught:
        urllib_transport(busy_server, b"{}", 2.0)
    # Then the transport reports a retryable status and the server's hint
    assert caught.value.status == 503
    assert caught.value.retry_after == 2.0


def test_a_node_refusing_batches_gets_the_calls_one_by_one() -> None:
    # Given a node that answers any batch with a single error object
    seen: list[object] = []

    def transport(url: str, body: bytes, timeout: float) -> bytes:
        payload = json.loads(body)
        seen.append(payload)
        if isinstance(payload, list):
            return json.dumps(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch not supported"}}
            ).encode()
        return json.dumps({"jsonrpc": "2.0", "id": payload["id"], "result": hex(payload["id"])}).encode()

    client = ChainClient(1, ["https://a"], transport=transport)
    # When sending a batch of two calls
    results = client.batch([("eth_blockNumber", []), ("eth_chainId", [])])
    # Then both were answered by single requests after the refused batch
    assert len(results) == 2
    assert len(seen) == 3
