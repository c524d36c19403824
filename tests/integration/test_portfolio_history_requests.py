"""A portfolio's writes request its wallets' positions backfill (tidewatch.portfolios.repository over
tidewatch.backfill.repository), on real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tidewatch.backfill.repository import request_positions_job
from tidewatch.db import Database
from tidewatch.portfolios.models import WalletIn
from tidewatch.portfolios.repository import PortfolioRepository

pytestmark = pytest.mark.integration

ALICE = "0x" + "A1" * 20
BOB = "0x" + "b2" * 20


def _user(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "c" * 40,)).fetchone()
    assert row is not None
    return int(row["id"])


def _jobs(db: Database) -> list[dict[str, Any]]:
    with db.connection() as conn:
        return conn.execute(
            "SELECT chain_id, scope, window_start, window_end, step_seconds, status, date_trunc('hour', now()) AS hour"
            " FROM backfill_jobs ORDER BY chain_id, scope"
        ).fetchall()


def test_a_new_portfolio_requests_30_days_of_hours_per_wallet_and_chain(db: Database) -> None:
    # Given a user, When they create a portfolio of two wallets on two chains
    PortfolioRepository(db).create(_user(db), "Main", [WalletIn(address=ALICE), WalletIn(address=BOB)], [1, 8453])
    # Then one running job per (chain, wallet), scoped by the lower-cased address, hourly over the
    # 30 days up to the database clock's hour
    jobs = _jobs(db)
    assert [(j["chain_id"], j["scope"]) for j in jobs] == [
        (chain, f"positions:{address.lower()}") for chain in (1, 8453) for address in (ALICE, BOB)
    ]
    for job in jobs:
        assert job["window_end"] == job["hour"]
        assert job["window_start"] == job["hour"] - timedelta(days=30)
        assert (job["step_seconds"], job["status"]) == (3600, "running")


def test_a_job_already_requested_is_kept_and_a_portfolio_without_wallets_requests_none(db: Database) -> None:
    # Given a job already requested for alice on chain 1 over another window
    user = _user(db)
    earlier = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    with db.connection() as conn:
        request_positions_job(conn, 1, f"positions:{ALICE.lower()}", earlier, earlier + timedelta(days=1), 600)
    repository = PortfolioRepository(db)
    # When a portfolio without wallets is created, Then nothing more is requested
    empty = repository.create(user, "Empty", [], [1])
    assert len(_jobs(db)) == 1
    # When alice's wallet is added to it, Then her existing job is left as it was
    repository.update(user, empty.id, name=None, wallets=[WalletIn(address=ALICE)], chains=None)
    (job,) = _jobs(db)
    assert (job["window_start"], job["window_end"], job["step_seconds"]) == (earlier, earlier + timedelta(days=1), 600)
