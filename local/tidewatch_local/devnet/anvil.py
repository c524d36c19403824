"""Start Foundry's anvil (installed from npm into devnet/node_modules) on a free local port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tidewatch_local.devnet.artifacts import REPO_ROOT

_NPM_BINARIES = ("anvil-linux-amd64", "anvil-linux-arm64", "anvil-darwin-arm64", "anvil-darwin-amd64")


def find_anvil() -> str:
    """The anvil binary: $TIDEWATCH_ANVIL_BIN, devnet/node_modules (npm ci in devnet/), or PATH."""
    explicit = os.environ.get("TIDEWATCH_ANVIL_BIN")
    if explicit:
        return explicit
    for package in _NPM_BINARIES:
        candidate = REPO_ROOT / "devnet" / "node_modules" / "@foundry-rs" / package / "bin" / "anvil"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise FileNotFoundError("anvil not found: run `npm ci` in devnet/ (installs @foundry-rs/anvil)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilNode:
    url: str
    port: int
    chain_id: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_anvil(
    port: int | None = None,
    *,
    chain_id: int = 1,
    block_time: float | None = None,
    state_path: Path | None = None,
    timeout: float = 20.0,
    genesis_timestamp: int | None = None,
    prune_history: bool = False,
) -> AnvilNode:
    """Start anvil and wait until it answers JSON-RPC.

    The devnet poses as Ethereum (chain id 1 by default) so that portfolios' default chains cover
    it; its registry is named "devnet" and its contracts live at devnet addresses. Blocks are mined
    per transaction (automine) unless `block_time` is given. `genesis_timestamp` dates the chain's
    first block in the past (the month-of-life simulation then mines forward to the present);
    `prune_history` keeps only the latest state, as a full (non-archive) node does.
    """
    port = port or free_port()
    args = [
        find_anvil(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--gas-limit",
        "300000000",
        "--code-size-limit",
        "100000",
        "--silent",
    ]
    if block_time:
        args += ["--block-time", str(block_time)]
    if state_path:
        args += ["--state", str(state_path)]
    if genesis_timestamp is not None:
        args += ["--timestamp", str(genesis_timestamp)]
    if prune_history:
        args += ["--prune-history", "1"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"anvil exited with {process.returncode}: {err.strip()[:500]}")
        try:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 - local URL
                json.loads(response.read())
            return AnvilNode(url=url, port=port, chain_id=chain_id, process=process)
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise TimeoutError(f"anvil did not answer on {url} within {timeout} s")
