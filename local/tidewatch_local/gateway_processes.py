"""The local gateway spread over processes (`tidewatch dev --gateway-processes N`).

Every process is a whole `LocalGateway` under uvicorn with a `LocalInvoker` of its own:
* it listens on the shared port with `SO_REUSEPORT`, so the kernel spreads new connections
  (WebSocket upgrades and HTTP requests) over the processes; a WebSocket stays with the process
  that accepted it, and that process's invoker runs its $connect / $disconnect / $default routes;
* it answers the management API (`@connections`) for its own sockets on a port of its own, and
  the $connect events it makes carry that address as `domainName` (in API Gateway the domain the
  connection is managed at), so each connection row records the endpoint of the process holding
  the socket and a broadcaster's per-endpoint batches go straight to that process.
A POST for a connection held by another process answers 410 there, as for any unknown id, so
pushes go to the endpoint recorded with the connection. With one process the shared port is the
management port and `SO_REUSEPORT` is not set. A process that dies takes its sockets with it; the
others keep serving, and the poster reads its refused endpoint as Gone (`tidewatch.live.http_push`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from tidewatch_local.gateway import LocalGateway

# A gateway of one process, given the management address (host:port) of its own sockets.
GatewayFactory = Callable[[str], "LocalGateway"]
_BACKLOG = 2048  # uvicorn's own default


class LocalGatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_DEV_", extra="ignore", frozen=True)

    gateway_processes: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Processes of the local gateway (`tidewatch dev`): each holds the WebSocket connections it "
        "accepted on the shared port (SO_REUSEPORT) and answers their management API on a port of its own; "
        "`--gateway-processes` overrides it.",
    )


def reachable(host: str) -> str:
    """The address other processes of this machine reach a server bound to `host` at."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)


@dataclass
class ProcessSockets:
    """The listening sockets of one gateway process."""

    shared: socket.socket
    management: socket.socket | None  # None: the shared port answers the management API
    host: str

    @property
    def management_host(self) -> str:
        sock = self.management or self.shared
        return f"{reachable(self.host)}:{sock.getsockname()[1]}"

    def all(self) -> list[socket.socket]:
        return [s for s in (self.shared, self.management) if s is not None]


def bind(host: str, port: int, *, processes: int) -> ProcessSockets:
    """One process's sockets: the shared port (SO_REUSEPORT past one process) and, past one
    process, a management port of its own (an ephemeral one on the same host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if processes == 1:
        return ProcessSockets(socket.create_server((host, port), family=family, backlog=_BACKLOG), None, host)
    shared = socket.create_server((host, port), family=family, backlog=_BACKLOG, reuse_port=True)
    management = socket.create_server((host, 0), family=family, backlog=_BACKLOG)
    return ProcessSockets(shared, management, host)


def ensure_free(host: str, port: int) -> None:
    """Refuse a port something already listens on: SO_REUSEPORT would otherwise share it with that
    listener (another `tidewatch dev` of the same user) instead of failing."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socket.create_server((host, port), family=family).close()


def serve(gateway: Any, sockets: ProcessSockets, *, on_server: Callable[[Any], None] | None = None) -> None:
    """Run `gateway` under uvicorn on `sockets` (as `tidewatch dev` serves it) until it is stopped."""
    import uvicorn

    from tidewatch_local.gateway import SERVER_OPTIONS

    server = uvicorn.Server(uvicorn.Config(gateway, **SERVER_OPTIONS))
    if on_server is not None:
        on_server(server)
    server.run(sockets=sockets.all())


def _exit_with_parent(parent: int) -> None:
    """A child whose parent is gone (killed without stopping it) stops too, freeing the port."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _child(factory: GatewayFactory, host: str, port: int, processes: int, ready: Any, parent: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    sockets = bind(host, port, processes=processes)
    gateway = factory(sockets.management_host)
    ready.put((os.getpid(), sockets.management_host))
    serve(gateway, sockets)


class GatewayProcesses:
    """The processes past the first, which the caller serves itself on `first()`'s sockets (with
    `serve_first_here=False`, as the benchmark and the tests run it: every process is a child)."""

    def __init__(
        self, factory: GatewayFactory, host: str, port: int, processes: int, *, serve_first_here: bool = True
    ) -> None:
        self._factory, self._host, self._port, self.count = factory, host, port, processes
        self._children_count = processes - 1 if serve_first_here else processes
        self._here = 1 if serve_first_here else 0
        self._context = multiprocessing.get_context("spawn")
        self._children: list[Any] = []
        self._stopping = threading.Event()
        self.management_hosts: list[str] = []

    def first(self) -> ProcessSockets:
        """The calling process's sockets (bound before any child, so a busy port fails here)."""
        if self.count > 1:
            ensure_free(self._host, self._port)
        return bind(self._host, self._port, processes=self.count)

    def start(self, timeout: float = 120.0) -> list[tuple[int, str]]:
        """Start the other processes; (pid, management host) of each once its sockets listen."""
        ready = self._context.Queue()
        if self._children_count == self.count and self.count > 1:
            ensure_free(self._host, self._port)
        for _ in range(self._children_count):
            child = self._context.Process(
                target=_child,
                args=(self._factory, self._host, self._port, self.count, ready, os.getpid()),
                name="tidewatch-gateway",
            )
            child.start()
            self._children.append(child)
        started: list[tuple[int, str]] = []
        deadline = time.monotonic() + timeout
        while len(started) < len(self._children):
            if any(c.exitcode is not None for c in self._children):
                raise RuntimeError("a local gateway process exited during start-up")
            with contextlib.suppress(Exception):
                started.append(ready.get(timeout=0.5))
            if time.monotonic() > deadline:
                raise RuntimeError(f"local gateway processes did not start in {timeout:g} s")
        self.management_hosts = [host for _, host in started]
        threading.Thread(target=self._watch, name="gateway-processes", daemon=True).start()
        return started

    def _watch(self) -> None:
        alive = {c.sentinel: c for c in self._children}
        while alive and not self._stopping.is_set():
            for sentinel in wait(list(alive), timeout=1.0):
                child = alive.pop(sentinel)
                if not self._stopping.is_set():
                    print(
                        f"[gateway] process {child.pid} exited with code {child.exitcode}; its WebSocket "
                        f"connections are closed, the other {len(alive) + self._here} serve on",
                        flush=True,
                    )

    @property
    def alive_pids(self) -> list[int]:
        return [int(c.pid) for c in self._children if c.is_alive()]

    def stop(self) -> None:
        self._stopping.set()
        for child in self._children:
            if child.is_alive():
                child.terminate()
        for child in self._children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
