"""PostgreSQL access with psycopg 3, bounded in time at every step.

One pool per process, created lazily outside the handler and reused across invocations. Statements
are never server-side prepared (`prepare_threshold=None`) so the pool works behind RDS Proxy and
PgBouncer in transaction mode.

Every wait on the server is bounded, because a stalled server (paused, partitioned, swapping)
answers nothing, so its own `statement_timeout` never fires:
- connecting: libpq `connect_timeout`; taking a connection from the pool: `acquire_timeout`;
- each statement: the server's `statement_timeout` and, on the client, the same plus a grace
  second, or what is left of the request's deadline (`tidewatch.deadline`) if that is sooner. A
  statement past its bound abandons the connection (it is closed, never reused);
- a transaction commits only if the request's deadline has not passed, checked by the client
  before sending COMMIT and by the server itself on the COMMIT round (`clock_timestamp() - now()`
  against the budget the transaction began with), so a stall between BEGIN and COMMIT rolls back
  instead of committing after the client was told it failed.
Failures of the database surface as `DatabaseUnavailable` (503 problem) instead of a driver error.

psycopg and psycopg_pool are imported when the first pool is opened, not at this module's import:
a cold start that serves no database request does not pay for the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, cast

from tidewatch import deadline
from tidewatch.errors import UpstreamUnavailable

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

RV = TypeVar("RV")
R = TypeVar("R", covariant=True)  # the records a unit of work yields
# Seconds the client waits beyond the server's statement_timeout before giving the server up.
_CLIENT_GRACE_SECONDS = 1.0


class DatabaseUnavailable(UpstreamUnavailable):
    """PostgreSQL did not answer in time or refused the connection."""

    type_slug = "database-unavailable"
    title = "Database unavailable"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": "5"}


if TYPE_CHECKING:
    Connection: TypeAlias = psycopg.Connection[dict[str, Any]]

    class BoundedConnection(psycopg.Connection[dict[str, Any]]):
        statement_limit: float | None
else:
    # Annotations only (every importer uses postponed annotations): the driver stays unimported.
    Connection = Any


@cache
def bounded_connection_class() -> type[BoundedConnection]:
    """The connection class of every pool, defined on first use because it subclasses psycopg's."""
    import psycopg

    class _BoundedConnection(psycopg.Connection[dict[str, Any]]):
        """A connection whose every wait on the server has a client-side bound.

        psycopg drives all I/O through `wait`, which polls the socket and resumes the protocol
        generator at least every 0.1 s; the generator is wrapped to give up once the bound passes.
        """

        statement_limit: float | None = None  # seconds per statement; None: unbounded

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = self.statement_limit
            if limit is not None:
                limit = deadline.cap(limit)
                if limit <= 0:
                    raise DatabaseUnavailable("the request's deadline passed before the database was asked")
            elif deadline.remaining() is not None:
                limit = deadline.cap(float("inf"))
            if limit is None:
                return super().wait(gen, interval, timeout)
            try:
                return super().wait(_bounded(gen, time.monotonic() + limit), interval, timeout)
            except _Overdue:
                # The server may still be working on the statement: the connection cannot be reused.
                self.pgconn.finish()
                raise DatabaseUnavailable(f"the database did not answer within {limit:.1f} s") from None

    return cast("type[BoundedConnection]", _BoundedConnection)


class _Overdue(Exception):
    pass


def _bounded(gen: Generator[Any, Any, RV], at: float) -> Generator[Any, Any, RV]:
    """Forward the protocol generator, raising `_Overdue` once `at` (monotonic) has passed."""
    try:
        state = next(gen)
        while True:
            ready = yield state
            if time.monotonic() > at:
                gen.close()
                raise _Overdue
            state = gen.send(ready)
    except StopIteration as stop:
        result: RV = stop.value
        return result


class Database:
    """A lazily opened connection pool; `connection()` yields a connection in autocommit mode."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 1,
        connect_timeout: float = 3.0,
        statement_timeout: float | None = 8.0,
        acquire_timeout: float | None = None,
    ) -> None:
        self.url = url
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._acquire_timeout = connect_timeout if acquire_timeout is None else acquire_timeout
        self._pool: ConnectionPool[BoundedConnection] | None = None

    def _options(self) -> str:
        # Server-side bounds for every session: a statement, and a transaction left open by a
        # client that went away (it would otherwise hold its locks until TCP gives up).
        if self._statement_timeout is None:
            return ""
        ms = max(1, int(self._statement_timeout * 1000))
        return f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms * 3}"

    def _open(self) -> ConnectionPool[BoundedConnection]:
        if self._pool is None:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            kwargs: dict[str, Any] = {
                "autocommit": True,
                "prepare_threshold": None,
                "row_factory": dict_row,
                "connect_timeout": max(1, int(self._connect_timeout)),
            }
            if options := self._options():
                kwargs["options"] = options
            pool: ConnectionPool[BoundedConnection] = ConnectionPool(
                self.url,
                connection_class=bounded_connection_class(),
                min_size=1,
                max_size=self._pool_size,
                kwargs=kwargs,
                timeout=self._acquire_timeout,
                open=False,
            )
            pool.open(wait=False)
            self._pool = pool
        return self._pool

    @property
    def statement_limit(self) -> float | None:
        return None if self._statement_timeout is None else self._statement_timeout + _CLIENT_GRACE_SECONDS

    @contextmanager
    def connection(self, *, long_running: bool = False) -> Iterator[Connection]:
        """A pooled connection; `long_running` lifts the statement bounds (migrations, batch jobs)."""
        import psycopg

        pool, conn = self._checkout(long_running)
        try:
            if long_running:
                conn.execute("SET statement_timeout = 0")
            yield conn
            if long_running:
                conn.execute("RESET statement_timeout")
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"database error: {type(exc).__name__}: {str(exc)[:200]}") from exc
        finally:
            if not conn.closed and conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                # Left mid-statement or mid-transaction by an error: never hand it to the next user.
                conn.close()
            pool.putconn(conn)

    def _checkout(self, long_running: bool) -> tuple[ConnectionPool[BoundedConnection], BoundedConnection]:
        """A live connection within the acquisition bound (and the request's deadline)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._open()
        for attempt in range(2):
            if deadline.expired():
                raise DatabaseUnavailable("the request's deadline passed before the database was asked")
            try:
                conn = pool.getconn(timeout=max(0.001, deadline.cap(self._acquire_timeout)))
            except PoolTimeout as exc:
                raise DatabaseUnavailable(f"no database connection within {self._acquire_timeout:.1f} s") from exc
            conn.statement_limit = None if long_running else self.statement_limit
            try:
                # A broken connection (database restarted, Lambda thawed after idle) is found here,
                # within the statement bound, and replaced by a fresh one.
                conn.execute("")
            except psycopg.OperationalError as exc:
                pool.putconn(conn)
                if attempt:
                    raise DatabaseUnavailable(f"database error: {type(exc).__name__}: {str(exc)[:200]}") from exc
                continue
            except BaseException:
                pool.putconn(conn)
                raise
            return pool, conn
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one database transaction: all or nothing, and never after the deadline."""
        with self.connection() as conn:
            budget = deadline.remaining()
            conn.execute("BEGIN")
            try:
                yield conn
            except BaseException:
                _rollback(conn)
                raise
            _commit(conn, budget)

    def ping(self, *, timeout: float | None = None) -> None:
        """One round trip; `timeout` bounds it (pool acquisition included) below the usual bounds."""
        if timeout is None:
            with self.connection() as conn:
                conn.execute("SELECT 1")
            return
        with deadline.bounded(request=timeout), self.connection() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class UnitOfWork(Generic[R]):
    """A repository port's unit of work over a database, yielding the records built on its connection.

    `transaction()`: one database transaction, all or nothing (`Database.transaction`);
    `session()`: one connection in autocommit, each statement on its own (`Database.connection`).
    The adapter of a port subclasses it with the records class of that port, as
    `PostgresRules(UnitOfWork[RuleRecords])` with `PostgresRuleRecords`.
    """

    def __init__(self, database: Database, records: Callable[[Connection], R]) -> None:
        self._db = database
        self._records = records

    @contextmanager
    def transaction(self) -> Iterator[R]:
        with self._db.transaction() as conn:
            yield self._records(conn)

    @contextmanager
    def session(self) -> Iterator[R]:
        with self._db.connection() as conn:
            yield self._records(conn)


def _commit(conn: Connection, budget: float | None) -> None:
    """COMMIT, unless the deadline passed: checked here and, for a stall in between, by the server."""
    import psycopg

    if budget is None:
        conn.execute("COMMIT")
        return
    if deadline.expired():
        _rollback(conn)
        raise DatabaseUnavailable("the request's deadline passed before the transaction could commit")
    # `now()` is the transaction's start on the server's clock, so no clock skew enters. One simple
    # query: if the server stalled before running it, the check fails and COMMIT rolls back.
    seconds = f"{max(budget, 0.0):.3f}"
    try:
        conn.execute(
            "DO $$BEGIN IF clock_timestamp() - now() > interval '"
            + seconds
            + " seconds' THEN RAISE EXCEPTION USING ERRCODE = 'query_canceled', "
            "MESSAGE = 'deadline passed before commit'; END IF; END$$; COMMIT"
        )
    except psycopg.errors.QueryCanceled as exc:
        _rollback(conn)
        raise DatabaseUnavailable("the request's deadline passed before the transaction could commit") from exc


def _rollback(conn: Connection) -> None:
    """ROLLBACK if the connection can still take it; otherwise closing it rolls back on the server."""
    import psycopg

    if conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except (psycopg.Error, DatabaseUnavailable):
        conn.close()
