"""`post_to_connection` through the API Gateway management API (boto3, imported lazily).

One client per endpoint, cached: the endpoint is `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`
(stored per connection at $connect), or the local gateway's URL when TIDEWATCH_WEBSOCKET_MANAGEMENT_ENDPOINT
is set. A 410 GoneException becomes `ConnectionGone`, so the broadcaster deletes the connection.
"""

from __future__ import annotations

import threading
from typing import Any

from tidewatch.live.broadcaster import ConnectionGone


class ApiGatewayPoster:
    def __init__(self, *, endpoint_override: str | None = None, region: str | None = None) -> None:
        self._override = endpoint_override
        self._region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> Any:
        url = self._override or endpoint
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.client(
                    "apigatewaymanagementapi",
                    endpoint_url=url,
                    region_name=self._region,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=64),
                )
                self._clients[url] = client
        return client

    def __call__(self, endpoint: str, connection_id: str, data: bytes) -> None:
        client = self._client(endpoint)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException as exc:
            raise ConnectionGone(connection_id) from exc
