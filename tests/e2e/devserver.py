"""A real `tidewatch dev` process for end-to-end tests, and a SIWE sign-in against it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from tidewatch.identity.siwe import SiweMessage
from tidewatch_local.alert_providers import ProviderStub
from tidewatch_local.template import REPO_ROOT

# A fresh devnet deploys, simulates and backfills before the first page; on a loaded two-core
# machine that has taken over two minutes.
START_TIMEOUT_S = 300


@dataclass
class DevServer:
    url: str
    home: Path
    port: int
    providers: ProviderStub | None = None
    redis_url: str = ""

    @property
    def registry(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "devnet" / "registry.json").read_text()))


def source_path() -> str:
    """The PYTHONPATH of a source-tree run: the functions and the local tools."""
    return f"{REPO_ROOT / 'functions'}:{REPO_ROOT / 'local'}"


@contextmanager
def running_dev_server(env: Mapping[str, str], port: int, tick_s: int, log: Path) -> Iterator[str]:
    """`tidewatch dev` on `port` with `env`, yielded as its base URL once /api/health answers 200.

    The process is stopped on exit; a process that exits or never becomes healthy fails the test
    with the end of its log.
    """
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidewatch_local.cli", "dev", "--port", str(port), "--tick", str(tick_s)],
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"tidewatch dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tidewatch dev did not become healthy:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def sign_in(base: str, port: int, seed: int) -> dict[str, Any]:
    """Sign in over SIWE as the account of private key `seed`; the token response body."""
    account = Account.from_key(seed.to_bytes(32, "big"))
    nonce = httpx.get(f"{base}/api/auth/nonce").json()["nonce"]
    now = datetime.now(UTC).replace(microsecond=0)
    text = SiweMessage(
        domain=f"127.0.0.1:{port}",
        address=str(account.address),
        uri=base,
        version="1",
        chain_id=1,
        nonce=nonce,
        issued_at=now,
        expiration_time=now + timedelta(minutes=5),
    ).to_text()
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()
    response = httpx.post(f"{base}/api/auth/verify", json={"message": text, "signature": signature})
    assert response.status_code == 200, response.text
    return dict(response.json())
