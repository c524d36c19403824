import psycopg
import pytest

from tidewatch.db import Database
from tidewatch.errors import Conflict
from tidewatch.migrate import apply_migrations, discover

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_database(database_url: str):
    """A brand-new empty database beside the session one."""
    admin_url = database_url.rpartition("/")[0] + "/test"
    name = database_url.rpartition("/")[2] + "_empty"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    database = Database(admin_url.rpartition("/")[0] + "/" + name)
    yield database
    database.close()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_apply_from_empty_and_reapply_as_noop(empty_database: Database) -> None:
    # Given an empty database
    # When migrations are applied twice
    first = apply_migrations(empty_database)
    second = apply_migrations(empty_database)
    # Then every migration ran once, and the second run did nothing
    assert first == [m.name for m in discover()]
    assert second == []
    with empty_database.connection() as conn:
        tables = {r["tablename"] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert {"users", "portfolios", "market_rates", "rules", "processed_webhook_events"} <= tables


def test_an_edited_applied_migration_is_refused(empty_database: Database, tmp_path) -> None:
    # Given a migration directory whose first file was applied
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x int);")
    apply_migrations(empty_database, tmp_path)
    # When the applied file is edited and migrations run again
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x bigint);")
    # Then the runner refuses instead of silently diverging
    with pytest.raises(Conflict):
        apply_migrations(empty_database, tmp_path)


def test_a_failing_migration_leaves_nothing_half_applied(empty_database: Database, tmp_path) -> None:
    # Given a good migration and a second one that fails half-way
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (x int); SELECT * FROM missing_table;")
    # When migrations are applied
    with pytest.raises(psycopg.errors.UndefinedTable):
        apply_migrations(empty_database, tmp_path)
    # Then the first is recorded and the failing one left no table behind
    with empty_database.connection() as conn:
        versions = [r["version"] for r in conn.execute("SELECT version FROM schema_migrations")]
        half = conn.execute("SELECT to_regclass('half') AS t").fetchone()
    assert versions == [1]
    assert half is not None
    assert half["t"] is None
