"""`tidewatch.db.UnitOfWork` over real PostgreSQL: a transaction is all or nothing, a session's
statements stand on their own."""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest

from tidewatch.db import Connection, Database, UnitOfWork

pytestmark = pytest.mark.integration


class _Users:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, address: str) -> None:
        self.conn.execute("INSERT INTO users (address) VALUES (%s)", (address,))


def _addresses(db: Database) -> list[str]:
    with db.connection() as conn:
        return [r["address"] for r in conn.execute("SELECT address FROM users ORDER BY address").fetchall()]


class _Boom(Exception):
    pass


def _write_then_fail(unit: AbstractContextManager[_Users], address: str) -> None:
    with unit as records:
        records.add(address)
        raise _Boom


def test_a_transaction_that_raises_writes_nothing_and_one_that_completes_writes_all(db: Database) -> None:
    # Given a unit of work yielding records over the users table
    users = UnitOfWork(db, _Users)
    # When a transaction's block writes and then raises
    with pytest.raises(_Boom):
        _write_then_fail(users.transaction(), "0x" + "1" * 40)
    # Then nothing it wrote is there
    assert _addresses(db) == []
    # When a transaction completes, Then both of its writes are there
    with users.transaction() as records:
        records.add("0x" + "1" * 40)
        records.add("0x" + "2" * 40)
    assert _addresses(db) == ["0x" + "1" * 40, "0x" + "2" * 40]


def test_each_statement_of_a_session_stands_on_its_own(db: Database) -> None:
    # Given a unit of work yielding records over the users table
    users = UnitOfWork(db, _Users)
    # When a session's block writes and then raises
    with pytest.raises(_Boom):
        _write_then_fail(users.session(), "0x" + "3" * 40)
    # Then the write made before the error stays
    assert _addresses(db) == ["0x" + "3" * 40]
