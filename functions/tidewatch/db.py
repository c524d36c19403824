"""PostgreSQL access with psycopg 3.

One pool per process, created lazily outside the handler and reused across invocations. Statements
are never server-side prepared (`prepare_threshold=None`) so the pool works behind RDS Proxy and
PgBouncer in transaction mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Connection = psycopg.Connection[dict[str, Any]]


class Database:
    """A lazily opened connection pool; `connection()` yields a connection in autocommit mode."""

    def __init__(self, url: str, *, pool_size: int = 1, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._pool: ConnectionPool[Connection] | None = None

    def _open(self) -> ConnectionPool[Connection]:
        if self._pool is None:
            pool: ConnectionPool[Connection] = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                kwargs={
                    "autocommit": True,
                    "prepare_threshold": None,
                    "row_factory": dict_row,
                    "connect_timeout": max(1, int(self._connect_timeout)),
                },
                # A broken connection (database restarted, Lambda thawed after idle) is
                # replaced before use instead of failing the request.
                check=ConnectionPool.check_connection,
                timeout=self._connect_timeout,
                open=False,
            )
            pool.open(wait=False)
            self._pool = pool
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with self._open().connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one database transaction: all or nothing."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def ping(self) -> None:
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
