"""Private, throw-away servers for the fault suite: PostgreSQL, Redis and anvil that may be paused.

The suite freezes servers with SIGSTOP, so it never touches the shared PostgreSQL and Redis: it
runs its own PostgreSQL (`initdb` + `pg_ctl` from the machine's PostgreSQL, in a temp dir, on a free
loopback port), its own redis-server and its own anvil, and stops them at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ports import free_port


@dataclass
class Server:
    name: str
    url: str
    pid: int

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the server and its child processes for the block (PostgreSQL serves each
        connection from a forked backend). Sockets stay open: clients hang, nothing refuses."""
        os.kill(self.pid, signal.SIGSTOP)  # first: a stopped postmaster forks no new backend
        children = _children(self.pid)
        for pid in children:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in children:
                os.kill(pid, signal.SIGCONT)
            os.kill(self.pid, signal.SIGCONT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.split("/")[2]))
    return found


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("the fault suite needs PostgreSQL's initdb/pg_ctl (/usr/lib/postgresql/*/bin)")
    return Path(found[-1]).parent


def _as_postgres_user() -> list[str]:
    """initdb refuses to run as root: run the private server as the `postgres` system user then."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root needs a `postgres` system user for the private server")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[Server]:
    bin_dir, prefix = _pg_bin(), _as_postgres_user()
    # Not under pytest's temp root: that is private to root, and the server may run as `postgres`.
    home = Path(tempfile.mkdtemp(prefix="tidewatch-faults-pg-"))
    data = home / "data"
    if prefix:
        shutil.chown(home, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "tidewatch", "--no-sync"],
        check=True,
        capture_output=True,
    )
    log = home / "server.log"
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    url = f"postgresql://tidewatch@127.0.0.1:{port}/postgres"
    try:
        yield Server("postgres", url, pid)
    finally:
        os.kill(pid, signal.SIGCONT)
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("the fault suite needs redis-server")
    port = free_port()
    home = tmp_path_factory.mktemp("private-redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the private redis-server did not start")
            time.sleep(0.05)
    try:
        yield Server("redis", f"redis://127.0.0.1:{port}/0", process.pid)
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)
