"""The WebSocket session logic behind the $connect / $disconnect / $default routes (no Lambda types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from tidewatch.entrypoint import validation_problem
from tidewatch.errors import Unauthorized
from tidewatch.live.messages import SubscriptionRequest, ack
from tidewatch.live.repository import ConnectionStore
from tidewatch.live.topics import PortfolioOwnership, authorize, parse_topic


class VerifiedUser(Protocol):
    @property
    def user_id(self) -> int: ...


class TokenVerifier(Protocol):
    """Verifies an access token (the API's `TokenService.verify`), raising an Unauthorized error."""

    def verify(self, token: str) -> VerifiedUser: ...


@dataclass(frozen=True)
class LiveSession:
    store: ConnectionStore
    verifier: TokenVerifier
    ownership: PortfolioOwnership

    def connect(self, connection_id: str, token: str | None, endpoint: str) -> int:
        if not token:
            raise Unauthorized("missing token query parameter")
        user = self.verifier.verify(token)
        self.store.connect(connection_id, user.user_id, endpoint)
        return user.user_id

    def disconnect(self, connection_id: str) -> None:
        self.store.disconnect(connection_id)

    def handle(self, connection_id: str, body: Any) -> dict[str, Any]:
        try:
            request = SubscriptionRequest.model_validate_json(body or "")
        except ValidationError as exc:
            raise validation_problem(exc) from exc
        user_id = self.store.user_of(connection_id)
        if user_id is None:
            raise Unauthorized("unknown connection: reconnect with a token")
        topic = parse_topic(request.topic)
        if request.action == "subscribe":
            authorize(topic, user_id, self.ownership)
            topics = self.store.subscribe(connection_id, topic.name)
        else:
            topics = self.store.unsubscribe(connection_id, topic.name)
        return ack(request.action, topic.name, topics)
