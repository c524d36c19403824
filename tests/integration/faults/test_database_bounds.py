"""Bounds of every PostgreSQL wait, on the real server: the client gives up, commits are guarded."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tidewatch import deadline
from tidewatch.db import Database, DatabaseUnavailable, _commit

pytestmark = pytest.mark.integration


@pytest.fixture
def bounded_db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, statement_timeout=5.0)
    yield database
    database.close()


def _scratch(db: Database) -> None:
    with db.connection() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bounds_scratch (x int)")
        conn.execute("TRUNCATE bounds_scratch")


def _rows(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM bounds_scratch").fetchone()
    assert row is not None
    return int(row["n"])


def test_the_server_statement_timeout_is_set_on_every_session(bounded_db: Database) -> None:
    with bounded_db.connection() as conn:
        row = conn.execute("SHOW statement_timeout").fetchone()
    assert row == {"statement_timeout": "5s"}


def test_a_statement_past_the_request_deadline_is_abandoned_by_the_client(bounded_db: Database) -> None:
    # Given a request with 0.3 s left and a statement the server would run for 3 s
    started = time.monotonic()
    with (
        pytest.raises(DatabaseUnavailable, match="did not answer"),
        deadline.bounded(request=0.3),
        bounded_db.connection() as conn,
    ):
        conn.execute("SELECT pg_sleep(3)")
    # Then the client gave up at the deadline (the server's 5 s timeout was never waited for)
    assert time.monotonic() - started < 1.0
    # And the pool hands out a working connection afterwards
    with bounded_db.connection() as conn:
        assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


def test_no_query_is_sent_once_the_deadline_has_passed(bounded_db: Database) -> None:
    _scratch(bounded_db)

    def insert_late() -> None:
        time.sleep(0.1)
        with bounded_db.transaction() as conn:
            conn.execute("INSERT INTO bounds_scratch VALUES (1)")

    with pytest.raises(DatabaseUnavailable, match="deadline"), deadline.bounded(request=0.05):
        insert_late()
    assert _rows(bounded_db) == 0


def test_the_server_refuses_to_commit_a_transaction_that_outlived_its_budget(bounded_db: Database) -> None:
    # Given a transaction that began with a 0.2 s budget and then stalled 0.4 s on the server
    _scratch(bounded_db)
    with bounded_db.connection() as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO bounds_scratch VALUES (1)")
        conn.execute("SELECT pg_sleep(0.4)")
        # When it is committed with that budget (the client-side check is not what stops it)
        with pytest.raises(DatabaseUnavailable, match="commit"):
            _commit(conn, 0.2)
    # Then the server rolled it back: the row never landed
    assert _rows(bounded_db) == 0


def test_a_transaction_within_its_budget_commits(bounded_db: Database) -> None:
    _scratch(bounded_db)
    with deadline.bounded(request=5), bounded_db.transaction() as conn:
        conn.execute("INSERT INTO bounds_scratch VALUES (1)")
    assert _rows(bounded_db) == 1


def test_health_is_fast_and_names_the_database_when_it_cannot_be_reached() -> None:
    # Given a database address where nothing answers in time (a blackholed TEST-NET address)
    from tidewatch.health import check_health

    database = Database("postgresql://192.0.2.1:5432/x", connect_timeout=10)
    started = time.monotonic()
    report = check_health(database, None, timeout=0.5)
    # Then the probe is cut at its bound and the report says which dependency failed
    assert time.monotonic() - started < 1.5
    assert report["status"] == "degraded"
    assert report["failing"] == ["database"]
    database.close()


def test_an_unreachable_database_is_a_transient_failure_for_the_migrations_function() -> None:
    # Given nothing listening where the database should be
    from migrations.handler import _unreachable
    from tidewatch.migrate import apply_migrations

    database = Database("postgresql://127.0.0.1:1/x", connect_timeout=1, acquire_timeout=1)
    # When migrations are applied, Then the failure is a DatabaseUnavailable the handler retries
    with pytest.raises(DatabaseUnavailable) as raised:
        apply_migrations(database)
    assert _unreachable(raised.value)
    database.close()
