"""After a SnapStart restore no connection from the snapshot is reused, and credentials are re-read.

Real PostgreSQL and Redis: the server side tells which connection served a query (backend pid,
Redis client id), so "a new connection" is what the servers saw, not what the pool claims.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
import snapshot_restore_py
from moto import mock_aws

from tidewatch import runtime

pytestmark = pytest.mark.integration


def run_runtime_hooks() -> None:
    """Lambda's side: before-snapshot callables, then, in the restored container, after-restore ones."""
    for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
        func(*args, **kwargs)
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


@pytest.fixture
def container(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """runtime's collaborators configured as a function's init configures them."""
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEWATCH_REDIS_URL", redis_url)
    monkeypatch.delenv("TIDEWATCH_DATABASE_SECRET_ARN", raising=False)
    monkeypatch.delenv("TIDEWATCH_REDIS_AUTH_SECRET_ARN", raising=False)
    runtime.reset()
    yield
    runtime.reset()


def _backend_pid() -> int:
    with runtime.database().connection() as conn:
        row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    return int(row["pid"])


def _redis_client_id() -> int:
    return int(runtime.redis_client().client_id())


def test_a_restored_container_opens_new_database_and_redis_connections(container: None) -> None:
    # Given a function whose init opened its database pool and a Redis connection
    database, client = runtime.database(), runtime.redis_client()
    pid_at_init, redis_id_at_init = _backend_pid(), _redis_client_id()
    # When Lambda snapshots it and restores a container from the snapshot
    run_runtime_hooks()
    # Then the handlers' objects are the same ones, but every query goes over a new connection
    assert runtime.database() is database
    assert runtime.redis_client() is client
    assert _backend_pid() != pid_at_init
    assert _redis_client_id() != redis_id_at_init


def test_the_snapshot_connections_are_closed_before_the_snapshot(container: None) -> None:
    # Given a function whose init opened its connections
    pid_at_init, redis_id_at_init = _backend_pid(), _redis_client_id()
    # When only the before-snapshot hooks run (Lambda takes the snapshot right after)
    for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
        func(*args, **kwargs)
    # Then neither server has the init's connection open any more: nothing live goes into the snapshot
    with runtime.database().connection() as conn:
        alive = conn.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = %s", (pid_at_init,)).fetchone()
    assert alive is not None
    assert alive["n"] == 0
    ids = {int(c["id"]) for c in runtime.redis_client().client_list()}
    assert redis_id_at_init not in ids


def test_a_rotated_database_password_and_redis_token_are_read_again_after_restore(
    container: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_aws():
        # Given credentials in Secrets Manager, read at init (snapshot time)
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        db_arn = secrets.create_secret(
            Name="tidewatch/db",
            SecretString=json.dumps({"username": "app", "password": "before", "host": "db", "dbname": "tidewatch"}),
        )["ARN"]
        redis_arn = secrets.create_secret(Name="tidewatch/redis", SecretString="token-before")["ARN"]
        monkeypatch.setenv("TIDEWATCH_DATABASE_SECRET_ARN", db_arn)
        monkeypatch.setenv("TIDEWATCH_DATABASE_HOST", "proxy.example")
        monkeypatch.setenv("TIDEWATCH_REDIS_AUTH_SECRET_ARN", redis_arn)
        runtime.reset()
        database, client = runtime.database(), runtime.redis_client()
        assert ":before@proxy.example" in database.url
        assert client.connection_pool.connection_kwargs["password"] == "token-before"
        # When both are rotated while the snapshot waits, and a container is restored
        secrets.put_secret_value(
            SecretId=db_arn,
            SecretString=json.dumps({"username": "app", "password": "after", "host": "db", "dbname": "tidewatch"}),
        )
        secrets.put_secret_value(SecretId=redis_arn, SecretString="token-after")
        run_runtime_hooks()
        # Then the restored container uses the current credentials (not Powertools' cached copy)
        assert ":after@proxy.example" in database.url
        assert client.connection_pool.connection_kwargs["password"] == "token-after"
