"""Settings of live updates (prefix TIDEWATCH_)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tidewatch.live.broadcaster import Broadcaster, PostToConnection
from tidewatch.live.fanout import DEFAULT_CHUNK, ChunkFanOut

if TYPE_CHECKING:
    from tidewatch.db import Database


class LiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    websocket_management_endpoint: str | None = Field(
        default=None,
        description="Override of the management API URL (local gateway); default: the one stored per connection.",
    )
    websocket_management_scheme: str = Field(
        default="https",
        pattern="^(https|http)$",
        description="Scheme of the management endpoint a $connect records from its event's domain and stage "
        "(http: the local gateway, whose processes each answer for their own sockets).",
    )
    websocket_push_mode: str = Field(
        default="aws",
        pattern="^(aws|http)$",
        description="'aws': boto3 apigatewaymanagementapi (signed); 'http': plain POST to {endpoint}/@connections/{id}.",
    )
    broadcast_workers: int = Field(default=32, ge=1, le=128, description="Parallel post_to_connection calls.")
    push_chunk_size: int = Field(
        default=DEFAULT_CHUNK, ge=10, le=2000, description="Connections one invocation pushes before fanning out."
    )
    push_function_name: str | None = Field(
        default=None,
        description="Function that pushes broadcast chunks (the WebSocket function in AWS); unset: threads here.",
    )


def poster_from_settings(settings: LiveSettings) -> PostToConnection:
    """The post_to_connection implementation the settings ask for (imports only what it needs)."""
    if settings.websocket_push_mode == "http":
        from tidewatch.live.http_push import HttpConnectionPoster

        return HttpConnectionPoster(endpoint_override=settings.websocket_management_endpoint)
    from tidewatch.live.aws_push import ApiGatewayPoster

    return ApiGatewayPoster(endpoint_override=settings.websocket_management_endpoint)


def fan_out_from_settings(settings: LiveSettings) -> ChunkFanOut | None:
    """Chunks to asynchronous invokes of the push function (AWS), to threads through its handler
    (local run), or nowhere (a deployed function without a push function pushes everything itself)."""
    if settings.push_function_name:
        from tidewatch.live.fanout import LambdaChunkFanOut

        return LambdaChunkFanOut(settings.push_function_name)
    from tidewatch.settings import FunctionsSettings

    if FunctionsSettings().invoke_mode != "local":
        return None
    from tidewatch.invoke import InProcessInvoker
    from tidewatch.live.fanout import ThreadChunkFanOut

    invoker = InProcessInvoker()  # the push handler, with its JSON round trip
    return ThreadChunkFanOut(lambda payload: invoker.invoke("websocket", payload))


def broadcaster_from_settings(database: Database, settings: LiveSettings) -> Broadcaster:
    """The broadcaster of a function that pushes: its connection store, its poster, fan-out past a chunk."""
    from tidewatch.live.repository import ConnectionStore

    return Broadcaster(
        ConnectionStore(database),
        poster_from_settings(settings),
        max_workers=settings.broadcast_workers,
        fan_out=fan_out_from_settings(settings),
        chunk_size=settings.push_chunk_size,
    )
