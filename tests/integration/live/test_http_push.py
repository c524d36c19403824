"""The plain-HTTP post_to_connection: one request per post over keep-alive, answers read whole."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tidewatch.live.broadcaster import ConnectionGone
from tidewatch.live.http_push import HttpConnectionPoster

pytestmark = pytest.mark.integration


@dataclass
class ScriptedServer:
    """A loopback server that answers each request with the next scripted answer (bytes)."""

    answers: list[bytes]
    close_after_each: bool = False
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0

    def serve(self, listener: socket.socket) -> None:
        while self.answers:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buffer = b""
                while self.answers:
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buffer += data
                    if b"\r\n\r\n" not in buffer:
                        break
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = next(
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + rest[:length])
                    buffer = rest[length:]
                    conn.sendall(self.answers.pop(0))
                    if self.close_after_each:
                        break


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def start(server: ScriptedServer, listener: socket.socket) -> str:
    threading.Thread(target=server.serve, args=(listener,), daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/local"


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
GONE = b'HTTP/1.1 410 Gone\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n{"message": "Gone"}'
CLOSE = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"


def test_posts_share_one_keep_alive_connection_and_each_is_one_request(listener: socket.socket) -> None:
    # Given a management API that answers 200, then a chunked 200, then 410
    server = ScriptedServer([OK, CHUNKED, GONE])
    endpoint = start(server, listener)
    poster = HttpConnectionPoster()
    # When three posts go out from one thread
    poster(endpoint, "a/b", b'{"n":1}')
    poster(endpoint, "c", b'{"n":2}')
    # Then the third, answered 410, is Gone
    with pytest.raises(ConnectionGone):
        poster(endpoint, "d", b'{"n":3}')
    # And all three went over one connection, each a POST to its connection's URL with its body
    assert server.connections == 1
    assert [r.split(b"\r\n", 1)[0] for r in server.requests] == [
        b"POST /local/@connections/a%2Fb HTTP/1.1",
        b"POST /local/@connections/c HTTP/1.1",
        b"POST /local/@connections/d HTTP/1.1",
    ]
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']


@pytest.mark.parametrize("answer", [OK, CLOSE], ids=["closed-while-idle", "announced-connection-close"])
def test_a_keep_alive_socket_the_server_closed_is_reopened_once(listener: socket.socket, answer: bytes) -> None:
    # Given a server that closes every connection after one answer, silently or saying so
    server = ScriptedServer([answer, answer], close_after_each=True)
    endpoint = start(server, listener)
    poster = HttpConnectionPoster()
    # When two posts go out one after the other
    poster(endpoint, "a", b"{}")
    poster(endpoint, "b", b"{}")
    # Then the second went over a new connection, and each post was sent exactly once
    assert server.connections == 2
    assert len(server.requests) == 2


def test_an_error_status_is_an_error_not_gone(listener: socket.socket) -> None:
    server = ScriptedServer([b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\nno"])
    endpoint = start(server, listener)
    with pytest.raises(OSError, match="HTTP 500"):
        HttpConnectionPoster()(endpoint, "a", b"{}")


def test_a_server_that_answers_nothing_is_an_error(listener: socket.socket) -> None:
    server = ScriptedServer([b""], close_after_each=True)
    endpoint = start(server, listener)
    with pytest.raises(OSError, match="without answering"):
        HttpConnectionPoster()(endpoint, "a", b"{}")


def test_an_endpoint_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpConnectionPoster()("wss://example.com/prod", "a", b"{}")


def test_single_posts_and_batches_share_the_threads_keep_alive_socket(listener: socket.socket) -> None:
    # Given a keep-alive server that answered a batch of two
    server = ScriptedServer([OK, OK, OK])
    endpoint = start(server, listener)
    poster = HttpConnectionPoster()
    assert poster.post_many(endpoint, [("a", b"1"), ("b", b"2")]) == [200, 200]
    # When a single post follows on the same thread
    poster(endpoint, "c", b"3")
    # Then it went over the batch's connection, sent once
    assert server.connections == 1
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests] == [b"1", b"2", b"3"]


def test_a_batch_is_pipelined_on_one_connection_and_answers_each_status_in_order(listener: socket.socket) -> None:
    # Given a management API that answers 200, 410, a chunked 200 and 500
    server = ScriptedServer([OK, GONE, CHUNKED, b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"])
    endpoint = start(server, listener)
    # When four posts go out as one batch
    statuses = HttpConnectionPoster().post_many(endpoint, [("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")])
    # Then each post has its own status, in order, and all went over one connection once each
    assert statuses == [200, 410, 200, 500]
    assert server.connections == 1
    assert [r.split(b"\r\n", 1)[0].split(b" ")[1] for r in server.requests] == [
        b"/local/@connections/a",
        b"/local/@connections/b",
        b"/local/@connections/c",
        b"/local/@connections/d",
    ]


def test_requests_after_connection_close_go_out_again_on_a_new_connection(listener: socket.socket) -> None:
    # Given a server that answers once per connection and says so (Connection: close)
    server = ScriptedServer([CLOSE, CLOSE, CLOSE], close_after_each=True)
    endpoint = start(server, listener)
    # When three posts go out pipelined
    statuses = HttpConnectionPoster().post_many(endpoint, [("a", b"1"), ("b", b"2"), ("c", b"3")])
    # Then every post was answered, each on a connection of its own, and none was handled twice
    assert statuses == [200, 200, 200]
    assert server.connections == 3
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests] == [b"1", b"2", b"3"]


def test_requests_a_broken_connection_may_have_read_are_unanswered_not_sent_twice(listener: socket.socket) -> None:
    # Given a server that answers the first request and then drops the connection without a word
    server = ScriptedServer([OK], close_after_each=True)
    endpoint = start(server, listener)
    # When three posts go out pipelined
    statuses = HttpConnectionPoster().post_many(endpoint, [("a", b"1"), ("b", b"2"), ("c", b"3")])
    # Then the first is answered and the two the server may have read are reported unanswered (0)
    assert statuses == [200, 0, 0]
    assert server.connections == 1


def test_an_endpoint_override_sends_every_post_there(listener: socket.socket) -> None:
    # Given a poster configured with the local gateway's endpoint (as `tidewatch dev` sets it)
    server = ScriptedServer([OK, OK])
    endpoint = start(server, listener)
    poster = HttpConnectionPoster(endpoint_override=endpoint)
    # When posts name the endpoint a connection recorded elsewhere, singly and batched
    poster("https://abc.execute-api.eu-west-1.amazonaws.com/prod", "a", b"{}")
    statuses = poster.post_many("https://abc.execute-api.eu-west-1.amazonaws.com/prod", [("b", b"{}")])
    # Then both went to the override
    assert statuses == [200]
    assert len(server.requests) == 2


def test_an_endpoint_nothing_listens_on_answers_gone_for_every_post(listener: socket.socket) -> None:
    # Given the endpoint of a gateway process that has died: its port refuses connections
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}/local"
    listener.close()
    poster = HttpConnectionPoster()
    # When posts go there, batched and singly
    statuses = poster.post_many(endpoint, [("a", b"{}"), ("b", b"{}")])
    # Then every one is Gone (none of that endpoint's sockets exists), so its rows are deleted
    assert statuses == [410, 410]
    with pytest.raises(ConnectionGone):
        poster(endpoint, "c", b"{}")


def test_an_idle_socket_to_an_endpoint_that_died_is_gone_on_the_next_post(listener: socket.socket) -> None:
    # Given a keep-alive socket to an endpoint that answered once, and then stopped listening
    server = ScriptedServer([OK])
    endpoint = start(server, listener)
    poster = HttpConnectionPoster()
    assert poster.post_many(endpoint, [("a", b"{}")]) == [200]
    listener.close()
    # When the next batch goes there (the old socket is closed, a new one is refused)
    statuses = poster.post_many(endpoint, [("b", b"{}")])
    # Then it is Gone, not an error
    assert statuses == [410]
