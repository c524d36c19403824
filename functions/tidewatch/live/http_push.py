"""`post_to_connection` as a plain HTTP POST to `{endpoint}/@connections/{id}` (no AWS SDK, no signing).

For the local gateway and benchmarks: the same URL shape as the API Gateway management API, over
pooled keep-alive connections (urllib3 comes with boto3/requests). 410 means Gone.
"""

from __future__ import annotations

from urllib.parse import quote

import urllib3

from tidewatch.live.broadcaster import ConnectionGone


class HttpConnectionPoster:
    def __init__(self, *, timeout_seconds: float = 2.0, pool_size: int = 64) -> None:
        self._http = urllib3.PoolManager(
            maxsize=pool_size, block=False, timeout=urllib3.Timeout(total=timeout_seconds), retries=False
        )

    def __call__(self, endpoint: str, connection_id: str, data: bytes) -> None:
        url = f"{endpoint.rstrip('/')}/@connections/{quote(connection_id, safe='')}"
        response = self._http.request("POST", url, body=data, headers={"Content-Type": "application/json"})
        if response.status == 410:
            raise ConnectionGone(connection_id)
        if response.status >= 300:
            raise OSError(f"post_to_connection answered HTTP {response.status}")
