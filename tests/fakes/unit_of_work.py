"""The unit of work of every in-memory repository, as `tidewatch.db.UnitOfWork` is for Postgres.

`transaction()` rolls back what its block wrote when the block raises, as a database transaction
would: the attributes named in `rolled_back` are deep-copied on entry and put back on the way
out. `session()` keeps each write at once, as autocommit statements do. A fake subclasses it with
its records type and says how its records are built (`_records()`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

R = TypeVar("R", covariant=True)


class InMemoryUnitOfWork(Generic[R]):
    rolled_back: ClassVar[tuple[str, ...]] = ()

    def _records(self) -> R:
        """The records one unit of work writes through; raising here fails the unit before any write."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[R]:
        saved = {name: copy.deepcopy(getattr(self, name)) for name in self.rolled_back}
        try:
            yield self._records()
        except BaseException:
            for name, value in saved.items():
                setattr(self, name, value)
            raise

    @contextmanager
    def session(self) -> Iterator[R]:
        yield self._records()
