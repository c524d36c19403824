"""The unit of work, one story over `tidewatch.db.UnitOfWork` on real PostgreSQL and over the fakes'
`InMemoryUnitOfWork` (tests/fakes/unit_of_work.py): a transaction is all or nothing, a session's
statements stand on their own, and both tell the same story."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import pytest

from tests.fakes.unit_of_work import InMemoryUnitOfWork
from tidewatch.db import Connection, Database, UnitOfWork

pytestmark = pytest.mark.integration

A, B, C = ("0x" + digit * 40 for digit in "123")


class UserRecords(Protocol):
    def add(self, address: str) -> None: ...


Users = UnitOfWork[UserRecords] | InMemoryUnitOfWork[UserRecords]


class _PostgresUsers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, address: str) -> None:
        self.conn.execute("INSERT INTO users (address) VALUES (%s)", (address,))


class _InMemoryUserRecords:
    def __init__(self, owner: _InMemoryUsers) -> None:
        self._owner = owner

    def add(self, address: str) -> None:
        self._owner.addresses.append(address)
        self._owner.writes += 1


class _InMemoryUsers(InMemoryUnitOfWork[_InMemoryUserRecords]):
    rolled_back = ("addresses",)

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.writes = 0  # not in `rolled_back`: kept through a rollback

    def _records(self) -> _InMemoryUserRecords:
        return _InMemoryUserRecords(self)


def _postgres(db: Database) -> tuple[Users, Callable[[], list[str]]]:
    def addresses() -> list[str]:
        with db.connection() as conn:
            return [r["address"] for r in conn.execute("SELECT address FROM users ORDER BY address").fetchall()]

    return UnitOfWork(db, _PostgresUsers), addresses


def _in_memory(db: Database) -> tuple[Users, Callable[[], list[str]]]:
    store = _InMemoryUsers()
    return store, lambda: sorted(store.addresses)


class _Boom(Exception):
    pass


def _write_then_fail(unit: AbstractContextManager[UserRecords], address: str) -> None:
    with unit as records:
        records.add(address)
        raise _Boom


@pytest.mark.parametrize("make", [_postgres, _in_memory], ids=["postgres", "in-memory"])
def test_a_transaction_is_all_or_nothing_and_a_session_keeps_each_write(
    db: Database, make: Callable[[Database], tuple[Users, Callable[[], list[str]]]]
) -> None:
    # Given a unit of work yielding records over users
    users, addresses = make(db)
    # When a transaction's block writes and then raises, Then nothing it wrote is there
    with pytest.raises(_Boom):
        _write_then_fail(users.transaction(), A)
    assert addresses() == []
    # When a transaction completes, Then both of its writes are there
    with users.transaction() as records:
        records.add(A)
        records.add(B)
    assert addresses() == [A, B]
    # When a session's block writes and then raises, Then the write made before the error stays
    with pytest.raises(_Boom):
        _write_then_fail(users.session(), C)
    assert addresses() == [A, B, C]


def test_what_a_fake_does_not_roll_back_keeps_its_change() -> None:
    # Given a fake whose write count is outside what its transaction rolls back
    store = _InMemoryUsers()
    # When a transaction writes and raises
    with pytest.raises(_Boom):
        _write_then_fail(store.transaction(), A)
    # Then its rows are put back and the count is not
    assert (store.addresses, store.writes) == ([], 1)
