"""Backfill on a devnet with simulated history: equal to what ingest stored, resumable, idempotent.

The module's devnet starts with its genesis in the past, is deployed and seeded, then lives
`HOURS` simulated hours (one block on every hour). During the simulation an ingest tick runs
after every hourly block, into a database of its own: those rows are what a backfill of the same
hours must reproduce, value for value.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ingest.logic import run_tick
from tests.conftest import drop_database, new_database
from tidewatch.backfill.markets import BackfillOptions, backfill_markets
from tidewatch.backfill.window import Window, make_window
from tidewatch.chain.history import NotArchiveNode
from tidewatch.chain.pacing import PacedTransport
from tidewatch.chain.rpc import ChainClient, Transport, TransportError, urllib_transport
from tidewatch.db import Database
from tidewatch.errors import InvalidInput
from tidewatch.events import ScheduledEvent
from tidewatch.marketfeed import InMemoryPublisher
from tidewatch.protocols.discovery import DiscoveryCache
from tidewatch.protocols.registry import Asset, CompoundV3Market, Registry, load_registry
from tidewatch_local.devnet import AnvilNode, deploy_and_seed, start_anvil
from tidewatch_local.devnet.history import SimulatedHistory, mine_at, simulate_history

from .conftest import CountingTransport

pytestmark = pytest.mark.integration

HOURS = 30
_ROWS = """
SELECT m.protocol, m.market_key, r.block_number, r.observed_at, r.supply_apy, r.borrow_apy, r.utilization,
       r.total_supplied, r.total_borrowed, r.price_usd
FROM market_rates r JOIN markets m ON m.id = r.market_id ORDER BY r.block_number, m.protocol, m.market_key
"""


@dataclass
class Month:
    node: AnvilNode
    registry: Registry
    registry_path: Path
    history: SimulatedHistory
    ingested: list[dict[str, Any]]  # market_rates rows an hourly ingest stored
    prices: list[dict[str, Any]]

    @property
    def chain_id(self) -> int:
        return self.registry.chains[0].chain_id

    @property
    def window(self) -> Window:
        start = datetime.fromtimestamp(self.history.start, tz=UTC)
        return Window(start, start + timedelta(hours=self.history.hours))


def _tick_event(t: int) -> ScheduledEvent:
    when = datetime.fromtimestamp(t, tz=UTC).isoformat()
    return ScheduledEvent.model_validate(
        {"id": f"tick-{t}", "detail-type": "Scheduled Event", "source": "aws.events", "time": when}
    )


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    start = (int(time.time()) // 3600) * 3600 - HOURS * 3600
    node = start_anvil(genesis_timestamp=start - 3 * 3600)
    url = new_database()
    ingest_db = Database(url)
    try:
        path = tmp_path_factory.mktemp("month") / "registry.json"
        deployment = deploy_and_seed(node.url, registry_path=path)
        registry = load_registry(path)
        client = ChainClient(registry.chains[0].chain_id, [node.url])
        cache = DiscoveryCache()

        def ingest(t: int, _block: int) -> None:
            run_tick(
                _tick_event(t),
                database=ingest_db,
                redis=None,
                registry=registry,
                clients={client.chain_id: client},
                publisher=InMemoryPublisher(),
                discovery=cache,
            )

        history = simulate_history(node.url, deployment, start=start, hours=HOURS, on_hour=ingest)
        with ingest_db.connection() as conn:
            rows = conn.execute(_ROWS).fetchall()
            prices = conn.execute("SELECT * FROM asset_prices ORDER BY block_number, asset_symbol").fetchall()
        yield Month(node, registry, path, history, rows, prices)
    finally:
        ingest_db.close()
        drop_database(url)
        node.stop()


def _client(month: Month, transport: Transport | None = None) -> tuple[ChainClient, CountingTransport]:
    counting = CountingTransport(transport or urllib_transport)
    return ChainClient(month.chain_id, [month.node.url], transport=counting, sleep=lambda _s: None), counting


def _rows(db: Database) -> list[dict[str, Any]]:
    with db.connection() as conn:
        return conn.execute(_ROWS).fetchall()


def _count(db: Database, table: str) -> int:
    with db.connection() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
        return int(row["n"]) if row else 0


def test_backfill_stores_exactly_what_hourly_ingest_stored(month: Month, db: Database) -> None:
    # Given the devnet's simulated hours (ingest stored one row per market and hour elsewhere)
    assert month.history.liquidation.get("liquidated") is True
    assert len(month.ingested) >= HOURS * 9
    client, transport = _client(month)

    # When those hours are backfilled into an empty database
    (result,) = backfill_markets(db, month.registry, {month.chain_id: client}, month.window)

    # Then the rows are the same rows, value for value, and so are the oracle prices
    assert result.complete
    assert result.error is None
    assert result.filled == HOURS
    assert result.unfillable == 0
    assert _rows(db) == month.ingested
    with db.connection() as conn:
        prices = conn.execute("SELECT * FROM asset_prices ORDER BY block_number, asset_symbol").fetchall()
    assert prices == month.prices
    # ... read in batches: far fewer HTTP requests than hours (two per 24-hour group + block search)
    assert transport.requests < HOURS
    assert transport.calls > transport.requests * 2


def test_a_rerun_writes_nothing_and_reads_no_history(month: Month, db: Database) -> None:
    # Given a completed backfill
    client, _ = _client(month)
    backfill_markets(db, month.registry, {month.chain_id: client}, month.window)
    rows = _rows(db)

    # When it runs again over the same window
    again, transport = _client(month)
    (result,) = backfill_markets(db, month.registry, {month.chain_id: again}, month.window)

    # Then nothing is written twice and no past block is read again
    assert result.already == HOURS
    assert result.filled == 0
    assert result.rows_written == 0
    assert _rows(db) == rows
    assert transport.requests <= 4  # head, genesis header, discovery (2)


class _KillAfter:
    """A transport whose process dies after `n` requests (as a Lambda timeout or SIGKILL would)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        if self.left <= 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        return urllib_transport(url, body, timeout)


def test_a_killed_backfill_resumes_where_it_stopped(month: Month, db: Database) -> None:
    # Given a backfill that stopped after its first group of 8 hours (its time budget ran out),
    # then a second run killed mid-way (the process died between two requests)
    options = BackfillOptions(buckets_per_round=8)
    client, _ = _client(month)
    window = month.window
    backfill_markets(db, month.registry, {month.chain_id: client}, window, options=options, should_stop=_after(1))
    assert _count(db, "backfill_buckets") == 8
    dying, _ = _client(month, _KillAfter(9))
    with pytest.raises(KeyboardInterrupt):
        backfill_markets(db, month.registry, {month.chain_id: dying}, window, options=options)
    committed = _count(db, "backfill_buckets")
    assert 8 <= committed < HOURS

    # When it is started again
    resumed, _ = _client(month)
    (result,) = backfill_markets(db, month.registry, {month.chain_id: resumed}, window, options=options)

    # Then it reads only the hours still missing, and the result equals one uninterrupted run
    assert result.already == committed
    assert result.filled == HOURS - committed
    assert result.complete
    assert _rows(db) == month.ingested
    with db.connection() as conn:
        job = conn.execute("SELECT status, buckets_done, buckets_total FROM backfill_jobs").fetchone()
    assert job == {"status": "done", "buckets_done": HOURS, "buckets_total": HOURS}


def _after(groups: int) -> Any:
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > groups

    return stop


class _Throttling:
    """Every third request is answered HTTP 429 with Retry-After: 1, as a provider over budget does."""

    def __init__(self) -> None:
        self.n = 0
        self.refused = 0

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.n += 1
        if self.n % 3 == 0:
            self.refused += 1
            raise TransportError("HTTP 429", status=429, retry_after=1.0)
        return urllib_transport(url, body, timeout)


def test_a_429_slows_the_backfill_down_instead_of_failing_it(month: Month, db: Database) -> None:
    # Given an RPC that refuses every third request with 429 / Retry-After: 1
    throttling = _Throttling()
    slept: list[float] = []
    paced = PacedTransport(throttling, requests_per_second=50, sleep=slept.append)
    client, _ = _client(month, paced)

    # When the hours are backfilled through it
    (result,) = backfill_markets(
        db, month.registry, {month.chain_id: client}, month.window, options=BackfillOptions(buckets_per_round=6)
    )

    # Then it completes with the same rows, having waited out each 429 and lowered its rate
    assert result.complete
    assert _rows(db) == month.ingested
    assert throttling.refused > 0
    assert paced.throttled == throttling.refused
    assert slept.count(1.0) == throttling.refused
    assert paced.rate is not None
    assert paced.rate < 50


def test_a_node_without_archive_state_is_refused_naming_the_block(month: Month, db: Database) -> None:
    # Given a full node (anvil --prune-history) whose chain has hourly blocks in the past
    start = (int(time.time()) // 3600) * 3600 - 6 * 3600
    node = start_anvil(prune_history=True, genesis_timestamp=start - 3600, chain_id=month.chain_id)
    try:
        client = ChainClient(month.chain_id, [node.url], sleep=lambda _s: None)
        for hour in range(6):
            mine_at(client, start + hour * 3600)
        window = Window(datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + 5 * 3600, tz=UTC))

        # When a backfill is asked of it
        with pytest.raises(NotArchiveNode) as refused:
            backfill_markets(db, month.registry, {month.chain_id: client}, window)
    finally:
        node.stop()

    # Then the refusal says an archive node is needed and names the block it tried
    assert "archive node" in refused.value.detail
    assert refused.value.block == 1
    assert "block 1" in refused.value.detail
    assert _count(db, "market_rates") == 0
    assert _count(db, "backfill_buckets") == 0


def test_a_window_before_the_chain_began_is_refused_and_nothing_is_stored(month: Month, db: Database) -> None:
    # Given a window that starts a day before the devnet's genesis
    client, _ = _client(month)
    start = datetime.fromtimestamp(month.history.start, tz=UTC) - timedelta(days=1)
    window = Window(start, start + timedelta(days=2))

    # When it is backfilled, Then it is refused with the chain's first moment, and nothing is stored
    with pytest.raises(InvalidInput, match="history begins"):
        backfill_markets(db, month.registry, {month.chain_id: client}, window)
    assert _count(db, "market_rates") == 0
    assert _count(db, "backfill_jobs") == 0


def test_a_future_end_is_refused_before_any_read() -> None:
    # Given now, When a window ending tomorrow is asked for, Then it is refused as in the future
    now = datetime.now(tz=UTC)
    with pytest.raises(InvalidInput, match="in the future"):
        make_window(now=now, end=now + timedelta(days=1))
    with pytest.raises(InvalidInput, match="366"):
        make_window(now=now, days=400)


class _Context:
    function_name = "tidewatch-ingest"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:tidewatch-ingest"
    aws_request_id = "heal"

    def get_remaining_time_in_millis(self) -> int:
        return 50_000


def test_the_heal_schedule_fills_hours_ingest_missed_and_marks_those_it_cannot(
    month: Month, db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import deps
    from ingest.handler import lambda_handler
    from tidewatch import runtime
    from tidewatch.observability import metrics

    # Given every simulated hour stored except two that ingest missed (the RPC was down)
    client, _ = _client(month)
    backfill_markets(db, month.registry, {month.chain_id: client}, month.window)
    missed = [month.window.start + timedelta(hours=h) for h in (10, 11)]
    with db.transaction() as conn:
        for hour in missed:
            conn.execute("DELETE FROM market_rates WHERE observed_at = %s", (hour,))
        conn.execute("DELETE FROM backfill_buckets")
    assert len(_rows(db)) < len(month.ingested)
    monkeypatch.setenv("TIDEWATCH_RPC_URLS", json.dumps({str(month.chain_id): [month.node.url]}))
    monkeypatch.setenv("TIDEWATCH_REGISTRY", str(month.registry_path))
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_REDIS_URL", "redis://127.0.0.1:1/0")
    if metrics.namespace is None:
        monkeypatch.setattr(metrics, "namespace", "TidewatchTest")
    runtime.reset()
    deps.reset()
    try:
        # When the hourly heal schedule's event reaches the ingest function
        event = json.loads(
            (Path(__file__).resolve().parents[3] / "events" / "ingest" / "backfill-heal.json").read_text()
        )
        response = lambda_handler(event, _Context())
    finally:
        runtime.reset()
        deps.reset()

    # Then exactly the two missed hours are read from the chain and stored as ingest stored them
    assert response["ok"] is True, response
    (chain,) = response["result"]["chains"]
    assert chain["filled"] == 2
    assert _rows(db) == month.ingested
    # ... and the hours before the devnet had markets are marked as gaps that cannot be filled
    assert chain["unfillable"] >= 1
    with db.connection() as conn:
        marked = conn.execute("SELECT detail FROM backfill_buckets WHERE status = 'unfillable'").fetchall()
    assert marked
    assert all("no block" in m["detail"] or "no market readable" in m["detail"] for m in marked)


def test_the_heal_fills_a_market_missing_an_hour_that_other_markets_of_the_chain_stored(
    month: Month, db: Database
) -> None:
    # Given every simulated hour stored by ingest (no backfill bookkeeping), except one market's
    # row in hour 10: the other markets of the chain have theirs
    client, _ = _client(month)
    backfill_markets(db, month.registry, {month.chain_id: client}, month.window)
    hour = month.window.start + timedelta(hours=10)
    with db.transaction() as conn:
        victim = conn.execute(
            "SELECT market_id FROM market_rates WHERE observed_at = %s ORDER BY market_id LIMIT 1", (hour,)
        ).fetchone()
        assert victim is not None
        conn.execute("DELETE FROM market_rates WHERE market_id = %s AND observed_at = %s", (victim["market_id"], hour))
        others = conn.execute("SELECT count(*) AS n FROM market_rates WHERE observed_at = %s", (hour,)).fetchone()
        conn.execute("DELETE FROM backfill_buckets")
    assert others is not None
    assert others["n"] > 0
    assert len(_rows(db)) == len(month.ingested) - 1

    # When the heal runs over the window
    again, _ = _client(month)
    (result,) = backfill_markets(
        db, month.registry, {month.chain_id: again}, month.window, options=BackfillOptions(clamp_to_history=True)
    )

    # Then that hour is read and only the missing market's row is written: the series equal ingest's
    assert result.already == HOURS - 1
    assert result.filled == 1
    assert result.rows_written == 1
    assert _rows(db) == month.ingested
    # ... and a second heal finds nothing left to read
    (after,) = backfill_markets(db, month.registry, {month.chain_id: again}, month.window)
    assert after.already == HOURS
    assert after.rows_written == 0


def test_a_market_that_cannot_be_read_in_an_hour_is_marked_while_the_others_are_filled(
    month: Month, db: Database
) -> None:
    # Given the hours stored except one market's row in hour 10, and one more market the registry
    # lists and ingest stored once (hour 3) but whose contract cannot be read at any other block
    client, _ = _client(month)
    backfill_markets(db, month.registry, {month.chain_id: client}, month.window)
    hour, once = (month.window.start + timedelta(hours=h) for h in (10, 3))
    ghost = CompoundV3Market(
        comet="0x00000000000000000000000000000000000dead1",
        asset=Asset(symbol="GHOST", address="0x00000000000000000000000000000000000dead2", decimals=6),
        name="cGHOSTv3",
    )
    with db.transaction() as conn:
        victim = conn.execute(
            "SELECT market_id FROM market_rates WHERE observed_at = %s ORDER BY market_id LIMIT 1", (hour,)
        ).fetchone()
        assert victim is not None
        conn.execute("DELETE FROM market_rates WHERE market_id = %s AND observed_at = %s", (victim["market_id"], hour))
        conn.execute("DELETE FROM backfill_buckets")
        row = conn.execute(
            "INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)"
            " VALUES (%s, 'compound-v3', %s, 'GHOST', %s, 6) RETURNING id",
            (month.chain_id, ghost.comet, ghost.asset.address),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO market_rates (market_id, block_number, observed_at) VALUES (%s, 0, %s)", (row["id"], once)
        )
    chain = month.registry.chains[0]
    registry = month.registry.model_copy(
        update={"chains": (chain.model_copy(update={"markets": (*chain.markets, ghost)}),)}
    )

    # When the heal runs over the window
    again, _ = _client(month)
    (result,) = backfill_markets(
        db, registry, {month.chain_id: again}, month.window, options=BackfillOptions(clamp_to_history=True)
    )

    # Then the real market's missing row is written, and every other hour is marked for the ghost
    assert result.rows_written == 1
    assert result.unfillable == HOURS - 1
    with db.connection() as conn:
        marked = conn.execute(
            "SELECT bucket_start, detail, rows_written FROM backfill_buckets WHERE status = 'unfillable'"
            " ORDER BY bucket_start"
        ).fetchall()
    with db.transaction() as conn:
        conn.execute("DELETE FROM markets WHERE id = %s", (row["id"],))
    assert len(marked) == HOURS - 1
    assert all(ghost.comet.lower() in m["detail"].lower() for m in marked)
    assert [m["rows_written"] for m in marked if m["bucket_start"] == hour] == [1]
    assert _rows(db) == month.ingested
    # ... and the next heal does not read those hours again
    (after,) = backfill_markets(db, registry, {month.chain_id: again}, month.window)
    assert after.already == HOURS
    assert after.rows_written == 0


def test_a_wallet_added_to_a_portfolio_gets_its_past_positions_and_a_health_factor_curve(
    month: Month, db: Database
) -> None:
    from tidewatch.backfill.positions import run_pending
    from tidewatch.portfolios.models import WalletIn
    from tidewatch.portfolios.repository import PortfolioRepository

    # Given bob (the borrower liquidated mid-month) and a fresh address without positions, added
    # to a portfolio on the devnet's chain
    bob = next(u for u in month.registry.users if u.label == "bob-near-liquidation").address
    nobody = "0x000000000000000000000000000000000000dEaD"
    with db.transaction() as conn:
        user = conn.execute(
            "INSERT INTO users (address) VALUES ('0x1111111111111111111111111111111111111111') RETURNING id"
        ).fetchone()
    assert user is not None
    repo = PortfolioRepository(db)
    portfolio = repo.create(user["id"], "bob", [WalletIn(address=bob), WalletIn(address=nobody)], [month.chain_id])
    with db.connection() as conn:
        pending = conn.execute("SELECT scope, status FROM backfill_jobs ORDER BY scope").fetchall()
    assert {p["status"] for p in pending} == {"running"}
    assert len(pending) == 2

    # When the heal schedule runs the pending positions backfills
    client, _ = _client(month)
    done = {d.address: d for d in run_pending(db, month.registry, {month.chain_id: client})}

    # Then bob has one reading per simulated hour from the start of the simulated month, and
    # half his Aave debt goes at the liquidation
    assert done[bob.lower()].status == "done"
    assert done[bob.lower()].filled >= HOURS
    points, first, jobs = repo.chart(
        [w.address for w in portfolio.wallets], [month.chain_id], month.window.start, month.window.end, 3600
    )
    assert len(points) == HOURS
    assert first == month.window.start
    assert all(p["samples"] == 1 for p in points)
    factors = [p["min_health_factor"] for p in points]
    assert factors[0] > 1
    debts = [p["borrowed_usd"] for p in points]
    stress = (HOURS * 2) // 3
    # ... half of his 12,000 USDC Aave debt was repaid by the liquidator (his Comet debt stays)
    assert Decimal(5_500) < debts[stress - 1] - debts[stress] < Decimal(6_500)
    # ... the address without positions got a clear answer and nothing stored
    assert done[nobody.lower()].status == "no-positions"
    with db.connection() as conn:
        stored = conn.execute("SELECT DISTINCT address FROM address_history").fetchall()
    assert stored == [{"address": bob.lower()}]
    assert [j["address"] for j in jobs] == [bob.lower()]
    assert jobs[0]["status"] == "done"


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """The CLI exports the local run's configuration (as `tidewatch dev` does): undo it after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_the_cli_backfills_with_a_progress_bar_and_refuses_bad_windows_in_one_line(
    month: Month,
    db: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restored_environ: None,
) -> None:
    from tidewatch_local.cli import main

    # Given the local configuration pointing at the month devnet
    monkeypatch.setenv("TIDEWATCH_RPC_URLS", json.dumps({str(month.chain_id): [month.node.url]}))
    monkeypatch.setenv("TIDEWATCH_REGISTRY", str(month.registry_path))
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    start, end = month.window.start.isoformat(), month.window.end.isoformat()

    # When `tidewatch backfill` runs over the simulated hours
    code = main(["backfill", "--start", start, "--end", end])

    # Then it draws its progress and reports the chain complete
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{HOURS}/{HOURS} h" in err
    assert f"chain {month.chain_id}: {HOURS} h filled" in out
    assert "complete" in out
    assert _rows(db) == month.ingested

    # When the window ends in the future, Then one line says so and exits 2, with nothing stored
    tomorrow = (datetime.now(tz=UTC) + timedelta(days=1)).isoformat()
    assert main(["backfill", "--start", start, "--end", tomorrow]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("tidewatch: end ")
    assert "in the future" in err
    assert "Traceback" not in err
    # ... and a window before the chain began names the chain's first moment
    assert main(["backfill", "--days", "365", "--quiet"]) == 2
    _, err = capsys.readouterr()
    assert "history begins" in err
