"""Process-wide collaborators, built once per container and reused across invocations.

Only handlers (and the local run) call these; logic functions receive the results as arguments.
"""

from __future__ import annotations

from functools import lru_cache

from tidewatch.cache import RedisClient, connect_redis
from tidewatch.db import Database
from tidewatch.secrets import database_url_from_secret, fetch_secret
from tidewatch.settings import DatabaseSettings, RedisSettings


@lru_cache(maxsize=1)
def database() -> Database:
    settings = DatabaseSettings()
    url = (
        database_url_from_secret(settings.database_secret_arn, host=settings.database_host)
        if settings.database_secret_arn
        else settings.database_url
    )
    return Database(
        url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
    )


@lru_cache(maxsize=1)
def redis_client() -> RedisClient:
    settings = RedisSettings()
    url = settings.redis_url
    if settings.redis_auth_secret_arn:
        token = fetch_secret(settings.redis_auth_secret_arn)
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://:{token}@{rest}"
    return connect_redis(url, timeout=settings.redis_timeout_seconds)


def reset() -> None:
    """Forget the cached collaborators (tests and the local run switch configurations)."""
    if database.cache_info().currsize:
        database().close()
    database.cache_clear()
    redis_client.cache_clear()
