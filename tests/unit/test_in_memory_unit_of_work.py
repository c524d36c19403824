"""The in-memory fakes' unit of work (tests/fakes/unit_of_work.py): rolled back as a database
transaction would be, autocommitted as a session would be."""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest

from tests.fakes.unit_of_work import InMemoryUnitOfWork


class _Rows:
    def __init__(self, owner: _Store) -> None:
        self._owner = owner

    def add(self, key: str) -> None:
        self._owner.rows[key] = {"n": len(self._owner.rows)}
        self._owner.writes += 1


class _Store(InMemoryUnitOfWork[_Rows]):
    rolled_back = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = {"kept": {"n": 0}}
        self.writes = 0  # not rolled back: a count kept outside the "database"

    def _records(self) -> _Rows:
        return _Rows(self)


class _Boom(Exception):
    pass


def _write_then_fail(unit: AbstractContextManager[_Rows], key: str) -> None:
    with unit as rows:
        rows.add(key)
        raise _Boom


def test_a_transaction_that_raises_puts_back_what_it_rolls_back() -> None:
    # Given a store with one row
    store = _Store()
    # When a transaction writes a row and raises
    with pytest.raises(_Boom):
        _write_then_fail(store.transaction(), "lost")
    # Then the rows are as before, and what is not rolled back keeps its change
    assert store.rows == {"kept": {"n": 0}}
    assert store.writes == 1


def test_a_completed_transaction_and_a_session_keep_their_writes() -> None:
    # Given a store, When a transaction completes and a session raises after writing
    store = _Store()
    with store.transaction() as rows:
        rows.add("a")
    with pytest.raises(_Boom):
        _write_then_fail(store.session(), "b")
    # Then both writes stay
    assert set(store.rows) == {"kept", "a", "b"}
