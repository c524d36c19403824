"""API Gateway WebSocket routes ($connect, $disconnect, $default) as plain Lambda handlers.

Not routed through Mangum/FastAPI: these events are not HTTP requests. Browsers cannot set headers
on a WebSocket, so $connect takes the access token from the `token` query parameter; a missing or
bad token answers 401, which makes API Gateway refuse the upgrade.

Template handlers: api.websocket.connect_handler / disconnect_handler / default_handler.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidewatch import runtime
from tidewatch.errors import DomainError
from tidewatch.live.messages import error
from tidewatch.live.repository import ConnectionStore, PostgresPortfolioOwnership
from tidewatch.live.session import LiveSession, TokenVerifier
from tidewatch.live.settings import LiveSettings
from tidewatch.observability import logger


def management_endpoint(event: dict[str, Any], override: str | None = None, scheme: str = "https") -> str:
    """Where post_to_connection must go for this connection: https://{domain}/{stage} (the local
    gateway: http, and the domain of the process holding the socket)."""
    if override:
        return override
    context = event.get("requestContext") or {}
    return f"{scheme}://{context.get('domainName', '')}/{context.get('stage', '')}"


def _response(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"statusCode": status}
    if body is not None:
        response["body"] = json.dumps(body, separators=(",", ":"))
    return response


def _connection_id(event: dict[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("connectionId", ""))


def handle_connect(
    event: dict[str, Any], session: LiveSession, *, endpoint_override: str | None = None, scheme: str = "https"
) -> dict:
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        endpoint = management_endpoint(event, endpoint_override, scheme)
        user_id = session.connect(_connection_id(event), token, endpoint)
    except DomainError as exc:
        logger.info("websocket connect refused", extra={"problem": exc.to_problem()})
        return _response(exc.status, error(exc.to_problem()))
    logger.info("websocket connected", extra={"user_id": user_id})
    return _response(200)


def handle_disconnect(event: dict[str, Any], session: LiveSession) -> dict[str, Any]:
    session.disconnect(_connection_id(event))
    return _response(200)


def handle_default(event: dict[str, Any], session: LiveSession) -> dict[str, Any]:
    try:
        reply = session.handle(_connection_id(event), event.get("body"))
    except DomainError as exc:
        if exc.status >= 500:
            raise
        return _response(exc.status, error(exc.to_problem()))
    return _response(200, reply)


def _production_verifier() -> TokenVerifier:
    # The HTTP API's token service from the same settings (keys, issuer, audience, rotation by kid),
    # without the API's other collaborators: a WebSocket function only verifies tokens.
    from tidewatch.identity.errors import AuthNotConfigured
    from tidewatch.identity.keys import token_service
    from tidewatch.identity.settings import AuthSettings

    verifier = token_service(AuthSettings(), time.time)
    if verifier is None:
        raise AuthNotConfigured("no JWT signing keys configured (TIDEWATCH_JWT_KEYS or TIDEWATCH_JWT_KEYS_SECRET_ARN)")
    return verifier


@lru_cache(maxsize=1)
def _session() -> tuple[LiveSession, LiveSettings]:
    database = runtime.database()
    session = LiveSession(ConnectionStore(database), _production_verifier(), PostgresPortfolioOwnership(database))
    return session, LiveSettings()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def connect_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    session, settings = _session()
    return handle_connect(
        event,
        session,
        endpoint_override=settings.websocket_management_endpoint,
        scheme=settings.websocket_management_scheme,
    )


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def disconnect_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_disconnect(event, _session()[0])


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def default_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_default(event, _session()[0])


@lru_cache(maxsize=1)
def _chunk_broadcaster() -> Any:
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.settings import poster_from_settings

    live = LiveSettings()
    # No fan-out here: a chunk is pushed by the invocation that received it.
    return Broadcaster(
        ConnectionStore(runtime.database()), poster_from_settings(live), max_workers=live.broadcast_workers
    )


def push_chunk_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One chunk of a broadcast: post to its connections in parallel, delete the ones that are Gone."""
    from tidewatch.live.fanout import PushChunk

    report = _chunk_broadcaster().deliver_chunk(PushChunk.model_validate(event))
    return {"delivered": report.delivered, "gone": report.gone, "failed": report.failed}
