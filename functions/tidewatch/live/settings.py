"""Settings of live updates (prefix TIDEWATCH_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tidewatch.live.broadcaster import PostToConnection


class LiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    websocket_management_endpoint: str | None = Field(
        default=None,
        description="Override of the management API URL (local gateway); default: the one stored per connection.",
    )
    websocket_push_mode: str = Field(
        default="aws",
        pattern="^(aws|http)$",
        description="'aws': boto3 apigatewaymanagementapi (signed); 'http': plain POST to {endpoint}/@connections/{id}.",
    )
    broadcast_workers: int = Field(default=32, ge=1, le=128, description="Parallel post_to_connection calls.")


def poster_from_settings(settings: LiveSettings) -> PostToConnection:
    """The post_to_connection implementation the settings ask for (imports only what it needs)."""
    if settings.websocket_push_mode == "http":
        from tidewatch.live.http_push import HttpConnectionPoster

        http = HttpConnectionPoster()
        override = settings.websocket_management_endpoint
        return lambda endpoint, connection_id, data: http(override or endpoint, connection_id, data)
    from tidewatch.live.aws_push import ApiGatewayPoster

    return ApiGatewayPoster(endpoint_override=settings.websocket_management_endpoint)
