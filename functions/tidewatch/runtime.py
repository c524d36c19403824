"""Process-wide collaborators, built once per container and reused across invocations.

Only handlers (and the local run) call these; logic functions receive the results as arguments.
Under SnapStart (tidewatch.snapstart) the database pool and the Redis connections are closed
before the snapshot and reopened on first use after every restore, with their credentials read
again: a restored container never shares a socket with the snapshot or its siblings.
"""

from __future__ import annotations

from functools import lru_cache

from tidewatch import snapstart
from tidewatch.cache import RedisClient, connect_redis
from tidewatch.db import Database
from tidewatch.secrets import database_url_from_secret, fetch_secret
from tidewatch.settings import DatabaseSettings, RedisSettings


def _database_url(settings: DatabaseSettings) -> str:
    if settings.database_secret_arn:
        return database_url_from_secret(settings.database_secret_arn, host=settings.database_host)
    return settings.database_url


def _redis_password(settings: RedisSettings) -> str | None:
    return fetch_secret(settings.redis_auth_secret_arn) if settings.redis_auth_secret_arn else None


@lru_cache(maxsize=1)
def database() -> Database:
    settings = DatabaseSettings()
    return Database(
        _database_url(settings),
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
    )


@lru_cache(maxsize=1)
def redis_client() -> RedisClient:
    settings = RedisSettings()
    url = settings.redis_url
    token = _redis_password(settings)
    if token:
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://:{token}@{rest}"
    return connect_redis(url, timeout=settings.redis_timeout_seconds)


def reset() -> None:
    """Forget the cached collaborators (tests and the local run switch configurations)."""
    if database.cache_info().currsize:
        database().close()
    database.cache_clear()
    redis_client.cache_clear()


@snapstart.before_snapshot
def close_connections() -> None:
    """No socket goes into the snapshot: the pool and the Redis connections are closed."""
    if database.cache_info().currsize:
        database().close()
    if redis_client.cache_info().currsize:
        redis_client().connection_pool.disconnect()


@snapstart.after_restore
def reopen_connections() -> None:
    """The same objects (handlers hold them) with fresh credentials; sockets open on first use.

    Closing again covers connections a before-snapshot hook did not see (opened after it ran, or
    a runtime that snapshotted without calling it).
    """
    if database.cache_info().currsize:
        db = database()
        db.close()
        db.url = _database_url(DatabaseSettings())
    if redis_client.cache_info().currsize:
        pool = redis_client().connection_pool
        pool.disconnect()
        token = _redis_password(RedisSettings())
        if token:
            pool.connection_kwargs["password"] = token


snapstart.install()
