"""Helpers to drive the api through its Lambda entry point with HTTP API v2 events."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events" / "api"


class FakeLambdaContext:
    function_name = "tidewatch-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tidewatch-api"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/tidewatch-api"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    request_id: str = "req-test",
    source_ip: str = "203.0.113.10",
) -> dict[str, Any]:
    """An HTTP API v2 event shaped like API Gateway's (based on events/api/health.json)."""
    event = copy.deepcopy(load_event("health.json"))
    event["routeKey"] = f"{method} {path}"
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"].update({"method": method, "path": path, "sourceIp": source_ip})
    event["requestContext"]["requestId"] = request_id
    event["requestContext"]["routeKey"] = f"{method} {path}"
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    if body is not None or raw_body is not None:
        text = raw_body if raw_body is not None else json.dumps(body)
        event["body"] = text
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(text.encode()))
    return event


def response_json(response: dict[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None
