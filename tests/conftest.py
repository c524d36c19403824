"""Shared fixtures: real PostgreSQL and Redis, isolated per test session.

Each pytest session gets its own freshly migrated database (so parallel runs on one machine do not
collide) and its own Redis logical database; every test that asks for `db` or `redis_client`
starts from empty tables / an empty keyspace.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

# Quiet, local-only observability for every test (set before any
# tidewatch module is imported, since Powertools reads them at construction).
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "TidewatchTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tidewatch-test")
os.environ.setdefault("POWERTOOLS_DEV", "false")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


import psycopg
import pytest
import redis

from tidewatch import runtime
from tidewatch.cache import connect_redis
from tidewatch.db import Database
from tidewatch.migrate import apply_migrations

ADMIN_URL = os.environ.get("TIDEWATCH_TEST_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TIDEWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _with_dbname(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def new_database(*, migrate: bool = True) -> str:
    """Create a database of our own (migrated unless asked not to) and return its URL."""
    name = f"tw_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_dbname(ADMIN_URL, name)
    if migrate:
        database = Database(url)
        apply_migrations(database)
        database.close()
    return url


def drop_database(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


def new_redis_url() -> str:
    """A Redis logical database (1-15) allocated atomically, so parallel users differ; flushed."""
    admin = redis.Redis.from_url(REDIS_URL)
    index = int(admin.incr("tw:test:db-allocator")) % 15 + 1
    admin.close()
    base, _, _ = REDIS_URL.rpartition("/")
    url = f"{base}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A new database, migrated once, dropped at the end of the session."""
    url = new_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def _session_database(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=4)
    yield database
    database.close()


def truncate_all(database: Database) -> None:
    with database.connection() as conn:
        tables = [
            row["tablename"]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            ).fetchall()
        ]
        if tables:
            conn.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"  # type: ignore[arg-type]
            )


@pytest.fixture
def db(_session_database: Database) -> Database:
    """The session database with every table empty."""
    truncate_all(_session_database)
    return _session_database


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis logical database of our own (1-15), allocated atomically so parallel runs differ."""
    return new_redis_url()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = connect_redis(redis_url, timeout=2.0)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def local_env(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The local run's configuration (as `tidewatch dev` sets it) on the test stores, for one module.

    The whole environment is restored afterwards, so settings the local run exports (JWT keys,
    site) never leak into tests that build their own.
    """
    from tidewatch_local.stack import apply_environment, resolve_stack

    saved = dict(os.environ)
    env = {
        "TIDEWATCH_DATABASE_URL": database_url,
        "TIDEWATCH_REDIS_URL": redis_url,
        "TIDEWATCH_HOME": str(tmp_path_factory.mktemp("tidewatch-home")),
    }
    os.environ.update(env)
    apply_environment(resolve_stack())
    runtime.reset()
    yield env
    os.environ.clear()
    os.environ.update(saved)
    runtime.reset()
