"""Local stand-ins for the alert providers, over real HTTP and SMTP on loopback.

* `Mailbox` — an aiosmtpd SMTP server; every accepted mail is written to a folder as `.eml` (the
  local run shows them at `/dev/mail`). Recipients listed in `bounce` are refused with
  `550 5.1.1` like a receiving server's hard bounce.
* `ProviderStub` — one HTTP server answering like the providers' documentation:
  Telegram Bot API `POST /bot<token>/sendMessage` (`{"ok": true, "result": {...}}`, 403 "bot was
  blocked by the user", 429 with `parameters.retry_after`), Discord `POST /api/webhooks/<id>/<token>`
  (200 message JSON with `wait=true`, 429 with `Retry-After` and `retry_after`, 404 Unknown Webhook),
  Slack `POST /services/T…/B…/<token>` (200 `ok`, 404 `no_service`, 429 `Retry-After`) and a Web
  Push endpoint `POST /push/<id>` (201 Created, 410 Gone). Tests script failures per path prefix.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def telegram_error(code: int, description: str, retry_after: int | None = None) -> Scripted:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Scripted(code, json.dumps(body).encode(), {"Content-Type": "application/json"})


TELEGRAM_BLOCKED = telegram_error(403, "Forbidden: bot was blocked by the user")


def telegram_rate_limited(seconds: int) -> Scripted:
    return telegram_error(429, f"Too Many Requests: retry after {seconds}", seconds)


def discord_rate_limited(seconds: float) -> Scripted:
    body = {"message": "You are being rate limited.", "retry_after": seconds, "global": False}
    return Scripted(
        429, json.dumps(body).encode(), {"Retry-After": str(int(seconds)), "Content-Type": "application/json"}
    )


DISCORD_UNKNOWN = Scripted(404, b'{"message": "Unknown Webhook", "code": 10015}', {"Content-Type": "application/json"})
SLACK_NO_SERVICE = Scripted(404, b"no_service")
PUSH_GONE = Scripted(410, b"push subscription has unsubscribed or expired.")


class ProviderStub:
    def __init__(self, *, latency_seconds: float = 0.0) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self.latency = latency_seconds
        self._lock = threading.Lock()
        self._message_id = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted = stub._record(self.path, dict(self.headers.items()), body)
                self.send_response(scripted.status)
                for name, value in scripted.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(scripted.body)))
                self.end_headers()
                self.wfile.write(scripted.body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # bursts of concurrent senders (the bench) are not refused

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def script(self, prefix: str, *answers: Scripted) -> None:
        with self._lock:
            self.scripts[prefix].extend(answers)

    def to(self, prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> Scripted:
        import time

        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            for prefix, queue in self.scripts.items():
                if path.startswith(prefix) and queue:
                    return queue.popleft()
            self.received.append(Received(path, headers, body))
            self._message_id += 1
            return self._success(path, body, self._message_id)

    @staticmethod
    def _success(path: str, body: bytes, message_id: int) -> Scripted:
        if "/sendMessage" in path:
            sent = json.loads(body)
            result = {
                "message_id": message_id,
                "from": {"id": 1, "is_bot": True, "first_name": "Tidewatch", "username": "tidewatch_bot"},
                "chat": {"id": int(sent["chat_id"]), "type": "private"},
                "date": 1_795_960_800,
                "text": sent["text"],
            }
            return Scripted(
                200, json.dumps({"ok": True, "result": result}).encode(), {"Content-Type": "application/json"}
            )
        if path.startswith("/api/webhooks/"):
            message = {"id": str(10**17 + message_id), "type": 0, "content": json.loads(body)["content"]}
            return Scripted(200, json.dumps(message).encode(), {"Content-Type": "application/json"})
        if path.startswith("/services/"):
            return Scripted(200, b"ok", {"Content-Type": "text/plain"})
        if path.startswith("/push/"):
            return Scripted(201, b"", {"Location": f"/push/messages/{message_id}"})
        return Scripted(404, b"not found")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """An SMTP server (aiosmtpd) on loopback that writes each accepted mail to `folder`."""

    def __init__(self, folder: Path, *, bounce: frozenset[str] = frozenset(), port: int = 0) -> None:
        from aiosmtpd.controller import Controller

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.bounce = {a.lower() for a in bounce}
        box = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
                if address.lower() in box.bounce:
                    return "550 5.1.1 The email account that you tried to reach does not exist"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                box._store(envelope.content)
                return "250 Message accepted for delivery"

        self._lock = threading.Lock()
        self._count = len(list(folder.glob("*.eml")))
        # aiosmtpd checks its own start by connecting to the port, so it needs a real port number.
        self.port = port or _free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def _store(self, content: bytes) -> None:
        with self._lock:
            self._count += 1
            (self.folder / f"{self._count:06d}.eml").write_bytes(content)

    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default) for path in sorted(self.folder.glob("*.eml"))
        ]

    def close(self) -> None:
        self._controller.stop()
