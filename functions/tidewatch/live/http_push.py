"""`post_to_connection` as a plain HTTP POST to `{endpoint}/@connections/{id}` (no AWS SDK, no signing).

For the local gateway and benchmarks: the same URL shape as the API Gateway management API, one
HTTP/1.1 request per connection over keep-alive sockets, one socket per (thread, endpoint), so
the threads of a broadcaster post in parallel without a shared pool. The request is written as
bytes and the answer read by its status line and `Content-Length` (or chunked body): a general
HTTP client's per-request work (header objects, retries, pool bookkeeping) costs ten times the
post itself, and a broadcast is ten thousand posts. 410 means Gone; another status ≥ 300 is an
error; a keep-alive socket the server closed while idle is reopened once.

`post_many` pipelines a batch of posts to one endpoint (HTTP/1.1 pipelining: a window of requests
written in one send, then their answers read in order), which saves a round trip, a wake-up and
two system calls a post on both ends. Requests the server never saw (it announced
`Connection: close`, or an idle socket was closed before any answer) are sent again on a new
socket; a request whose socket broke after it may have been read is reported unanswered (0),
never sent twice.

An endpoint that refuses the connection (nothing listens on its port) answers Gone for every post:
the local gateway's processes each answer `@connections` for their own sockets on a port of their
own, and a process that has died holds no sockets, so its rows are deleted like any stale one.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from tidewatch.live.broadcaster import ConnectionGone

_MAX_HEAD = 64 * 1024
# Pipelined requests written before their answers are read. Bounded: a single-process server
# parses every request it has received before answering the first, so hundreds of sockets with
# deep windows would each wait past the timeout for their first answer.
PIPELINE_WINDOW = 16


class _Closed(Exception):
    """The server closed a keep-alive socket before answering (the request may be sent again)."""


class _Endpoint:
    """One management endpoint: where to connect and the fixed part of every request."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) management endpoint: {endpoint!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = f"{parts.path}/@connections/"
        self.host_header = parts.netloc.encode("idna")


class _KeepAlive:
    """One keep-alive socket to an endpoint, with its unread bytes."""

    def __init__(self, endpoint: _Endpoint, timeout: float) -> None:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = (
            ssl.create_default_context().wrap_socket(raw, server_hostname=endpoint.host) if endpoint.tls else raw
        )
        self.buffer = b""
        self.used = False

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            raise _Closed()
        self.buffer += data

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > _MAX_HEAD:
                raise OSError("management API answered an over-long line")
            self._fill()
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        return line

    def send(self, requests: bytes) -> None:
        try:
            self.sock.sendall(requests)
        except (BrokenPipeError, ConnectionResetError):
            raise _Closed() from None

    def answer(self) -> tuple[int, bool]:
        """Read the next whole answer: (status, whether the socket stays open)."""
        try:
            while (end := self.buffer.find(b"\r\n\r\n")) < 0:
                if len(self.buffer) > _MAX_HEAD:
                    raise OSError("management API answered over-long headers")
                self._fill()
        except _Closed:
            if self.buffer:
                raise OSError("management API closed the connection mid-answer") from None
            raise
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        status_line, *header_lines = head.split(b"\r\n")
        version, status = status_line.split(b" ", 2)[:2]
        length: int | None = None
        chunked = False
        keep_alive = version == b"HTTP/1.1"
        for line in header_lines:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = value.strip().lower() == b"keep-alive"
        if chunked:
            while (size := int(self._line().split(b";", 1)[0], 16)) > 0:
                self._take(size + 2)
            while self._line():  # trailers, up to the blank line
                pass
        elif length is not None:
            self._take(length)
        else:  # the body runs to the end of the stream
            keep_alive = False
        self.used = True
        return int(status), keep_alive

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class HttpConnectionPoster:
    def __init__(
        self, *, timeout_seconds: float = 2.0, pool_size: int = 64, endpoint_override: str | None = None
    ) -> None:
        # pool_size: how many threads post at once; each keeps its own socket per endpoint.
        # endpoint_override: every post goes there, whatever endpoint the connection recorded.
        self._timeout = timeout_seconds
        self._override = endpoint_override
        self._endpoints: dict[str, _Endpoint] = {}
        self._local = threading.local()

    def _endpoint(self, endpoint: str) -> _Endpoint:
        known = self._endpoints.get(endpoint)
        if known is None:
            known = self._endpoints[endpoint] = _Endpoint(endpoint)
        return known

    def _request(self, target: _Endpoint, connection_id: str, data: bytes) -> bytes:
        return b"".join(
            (
                b"POST ",
                (target.prefix + quote(connection_id, safe="")).encode(),
                b" HTTP/1.1\r\nHost: ",
                target.host_header,
                b"\r\nContent-Type: application/json\r\nContent-Length: ",
                str(len(data)).encode(),
                b"\r\n\r\n",
                data,
            )
        )

    def __call__(self, endpoint: str, connection_id: str, data: bytes) -> None:
        endpoint = self._override or endpoint
        target = self._endpoint(endpoint)
        (status,) = self._pipeline(endpoint, target, (self._request(target, connection_id, data),))
        if status == 410:
            raise ConnectionGone(connection_id)
        if status >= 300:
            raise OSError(f"post_to_connection answered HTTP {status}")

    def post_many(self, endpoint: str, posts: Sequence[tuple[str, bytes]]) -> list[int]:
        """Each (connection id, data) posted, pipelined on this thread's socket; their HTTP statuses
        in order (0: no answer, the socket broke after the request may have been read)."""
        endpoint = self._override or endpoint
        target = self._endpoint(endpoint)
        requests = [self._request(target, cid, data) for cid, data in posts]
        statuses: list[int] = []
        while len(statuses) < len(requests):
            window = requests[len(statuses) : len(statuses) + PIPELINE_WINDOW]
            statuses += self._pipeline(endpoint, target, window)
        return statuses

    def _pipeline(self, endpoint: str, target: _Endpoint, window: Sequence[bytes]) -> list[int]:
        """Answers to `window` (at least one, so the caller always makes progress); a single post is
        a window of one. An idle keep-alive socket the server had closed is replaced once."""
        sockets: dict[str, _KeepAlive] = self._local.__dict__.setdefault("sockets", {})
        for _attempt in range(2):
            try:
                conn = sockets.pop(endpoint, None) or _KeepAlive(target, self._timeout)
            except ConnectionRefusedError:
                return [410] * len(window)  # nothing listens there: none of its sockets exists
            reused = conn.used
            statuses: list[int] = []
            keep_alive = True
            try:
                conn.send(b"".join(window))
                while keep_alive and len(statuses) < len(window):
                    status, keep_alive = conn.answer()
                    statuses.append(status)
            except _Closed:
                conn.close()
                if statuses:  # the unanswered requests may have been read: never sent twice
                    return statuses + [0] * (len(window) - len(statuses))
                if reused:
                    continue  # an idle keep-alive socket the server had closed: once more on a new one
                raise OSError("management API closed the connection without answering") from None
            except BaseException:
                conn.close()
                raise
            if keep_alive:
                sockets[endpoint] = conn
            else:
                conn.close()  # the server read no further: the rest of the window goes out again
            return statuses
        raise OSError("management API closed the connection without answering")
