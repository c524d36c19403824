"""`tidewatch dev` on a fresh devnet lives simulated days first and backfills them into the charts.

A short history (3 days, TIDEWATCH_DEVNET_HISTORY_DAYS) keeps the test quick; the default month
is measured by the start-up line the same run prints (docs/operations.md quotes it).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import drop_database, new_database, new_redis_url
from tests.ports import free_port
from tidewatch_local.template import REPO_ROOT

from .devserver import sign_in

pytestmark = pytest.mark.integration

DAYS = 3


def test_a_fresh_devnet_starts_with_its_simulated_days_backfilled(tmp_path: Path) -> None:
    # Given empty stores and a fresh devnet asked to live 3 days before the present
    database_url, redis_url = new_database(migrate=False), new_redis_url()
    log = tmp_path / "dev.log"
    env = {
        **os.environ,
        "TIDEWATCH_DATABASE_URL": database_url,
        "TIDEWATCH_REDIS_URL": redis_url,
        "TIDEWATCH_HOME": str(tmp_path / "home"),
        "TIDEWATCH_DEVNET_HISTORY_DAYS": str(DAYS),
        "TIDEWATCH_DEVNET_SIMULATE_SECONDS": "0",
        "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT / 'local'}",
    }
    env.pop("TIDEWATCH_RPC_URLS", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidewatch_local.cli", "dev", "--port", str(free_port()), "--no-schedules"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # When it starts
        deadline = time.monotonic() + 180
        while "Press Ctrl-C" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tidewatch dev did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        text = log.read_text()

        # Then it printed how long the start-up took, history included, and what was backfilled
        assert re.search(r"start-up\s+\d+\.\d s to the first page", text), text
        history = re.search(r"History: (\d+) chain-hours backfilled \((\d+) new rows", text)
        assert history, text
        # ... every simulated hour of both chains (plus the current one) is in the database
        hours, rows = int(history.group(1)), int(history.group(2))
        assert hours >= 2 * DAYS * 24
        with psycopg.connect(database_url) as conn:
            per_chain = conn.execute(
                """SELECT m.chain_id, count(DISTINCT date_trunc('hour', r.observed_at)) AS hours, count(*) AS n
                   FROM market_rates r JOIN markets m ON m.id = r.market_id GROUP BY 1 ORDER BY 1"""
            ).fetchall()
        assert [c for c, _, _ in per_chain] == [1, 8453]
        assert all(h >= DAYS * 24 for _, h, _ in per_chain)
        assert sum(n for _, _, n in per_chain) >= rows

        # When a user adds the seeded borrower who was liquidated to a portfolio
        base = re.search(r"dashboard\s+(http://\S+)/", text).group(1)  # type: ignore[union-attr]
        port = int(base.rsplit(":", 1)[1])
        registry = json.loads((tmp_path / "home" / "devnet" / "registry.json").read_text())
        bob = next(u["address"] for u in registry["users"] if u["label"] == "bob-near-liquidation")
        auth = {"Authorization": f"Bearer {sign_in(base, port, seed=301)['access_token']}"}
        portfolio = httpx.post(
            f"{base}/api/portfolios", json={"name": "bob", "wallets": [{"address": bob}], "chains": [1]}, headers=auth
        ).json()
        chart_url = f"{base}/api/portfolios/{portfolio['id']}/history/chart"
        # Then the chart says whether the positions backfill still runs, and once it is done ...
        chart = httpx.get(chart_url, headers=auth, timeout=30).json()
        assert isinstance(chart["backfill_running"], bool)
        deadline = time.monotonic() + 240
        while chart["backfill_running"]:
            assert time.monotonic() < deadline, chart["backfills"]
            time.sleep(2)
            chart = httpx.get(chart_url, headers=auth, timeout=30).json()
        assert [b["status"] for b in chart["backfills"]] == ["done"]
        # ... it starts at the first simulated hour and has every hour since, with a health factor
        first = datetime.fromisoformat(chart["first_timestamp"])
        start = datetime.fromtimestamp((int(time.time()) // 3600 - DAYS * 24) * 3600, tz=UTC)
        assert abs(first - start) <= timedelta(hours=1), (first, start)
        points = chart["points"]
        assert len(points) >= DAYS * 24
        assert chart["gaps"] == []
        assert all(p["min_health_factor"] is not None for p in points)
        # ... and it shows the stress episode: in one hour his debt falls by over a quarter (the
        # liquidator repaid half his Aave USDC debt, 6,000 of 16,800 USD across Aave and Comet)
        # and his collateral shrinks (WETH fell 8 %, and some was seized with the liquidation bonus)
        drops = [
            (a, b)
            for a, b in itertools.pairwise(points)
            if Decimal(b["borrowed_usd"]) < Decimal(a["borrowed_usd"]) * Decimal("0.75")
        ]
        assert len(drops) == 1, [(p["t"], p["borrowed_usd"]) for p in points]
        before, after = drops[0]
        assert Decimal(after["supplied_usd"]) < Decimal(before["supplied_usd"]) * Decimal("0.9")
        stress = start + timedelta(hours=(DAYS * 24 + 1) * 2 // 3)
        assert abs(datetime.fromisoformat(after["t"]) - stress) <= timedelta(hours=1), (after["t"], stress)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        drop_database(database_url)
