"""WebSocket topics and who may subscribe to them.

markets            every market's rate updates
market:<id>        one market's rate updates
portfolio:<id>     one portfolio's updates: only its owner may subscribe
notifications      the subscriber's OWN notifications (rule firings, transaction status)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from tidewatch.errors import Forbidden, InvalidInput

_TOPIC = re.compile(r"^(markets|notifications|market:[1-9][0-9]{0,17}|portfolio:[1-9][0-9]{0,17})$")
MARKETS = "markets"
NOTIFICATIONS = "notifications"


@dataclass(frozen=True)
class Topic:
    name: str

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def ref(self) -> int | None:
        _, _, ref = self.name.partition(":")
        return int(ref) if ref else None


def parse_topic(value: str) -> Topic:
    if not _TOPIC.match(value):
        raise InvalidInput(
            f"unknown topic {value!r}",
            errors=[{"field": "topic", "message": "expected markets, market:<id>, portfolio:<id> or notifications"}],
        )
    return Topic(value)


def market_topic(market_id: int) -> str:
    return f"market:{market_id}"


def portfolio_topic(portfolio_id: int) -> str:
    return f"portfolio:{portfolio_id}"


class PortfolioOwnership(Protocol):
    def owner_of(self, portfolio_id: int) -> int | None: ...


def authorize(topic: Topic, user_id: int, ownership: PortfolioOwnership) -> None:
    """Refuse a portfolio topic that is not the user's (answered like a missing one: no probing)."""
    if topic.kind == "portfolio" and topic.ref is not None and ownership.owner_of(topic.ref) != user_id:
        raise Forbidden(f"no portfolio {topic.ref} of yours")
