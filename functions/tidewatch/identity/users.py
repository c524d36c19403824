"""Whether the user an access token names still exists, asked of the users repository and cached."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from tidewatch.db import Database
from tidewatch.identity.repository import UserRepository
from tidewatch.observability import logger


class KnownUsers:
    """Does the user an access token names still exist? (A deleted user's token must not work.)

    An access token outlives nothing it names: when the user row is gone, every route answers
    401. Positive answers are kept per container for `ttl_seconds` (bounded LRU), so a busy user
    costs one primary-key lookup per TTL; writes racing a deletion are caught by the users
    foreign keys. When the database cannot be asked, the answer is None (unknown) and the route
    decides, so an outage does not turn every request into a 401.
    """

    def __init__(
        self,
        database: Database,
        *,
        ttl_seconds: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = UserRepository(database)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[int, float] = OrderedDict()

    def recently_seen(self, user_id: int) -> bool:
        at = self._seen.get(user_id)
        return at is not None and self._clock() - at < self._ttl

    def exists(self, user_id: int) -> bool | None:
        import psycopg

        try:
            found = self._users.exists(user_id)
        except psycopg.Error as exc:  # unavailable: unknown, not "deleted"
            logger.warning("could not check the token's user", extra={"user_id": user_id, "error": str(exc)})
            return None
        if not found:
            self._seen.pop(user_id, None)
            return False
        self._seen[user_id] = self._clock()
        self._seen.move_to_end(user_id)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True
