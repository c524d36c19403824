"""Ports for servers the tests start.

A port found by binding port 0 lies in the kernel's ephemeral range, so between the probe and the
server's own bind the kernel can hand the same port to anything else that binds port 0 or
connects out (the local run picks its anvil ports that way). Ports below the ephemeral range are
only ever taken by an explicit bind, so a probed one stays free for the server that asked for it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _below_ephemeral() -> range:
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return range(max(1024, low - 12_000), low)


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on, outside the range the kernel assigns by itself."""
    candidates = _below_ephemeral()
    for port in random.sample(candidates, k=min(200, len(candidates))):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {candidates}")
