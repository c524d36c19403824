"""HTTP requests as API Gateway HTTP API (payload 2.0) events, and handler results back as responses.

`HttpApiBridge` serves `/api`: each request becomes the event of the function that template.yaml
routes it to, and the handler's result becomes the HTTP response. Unrouted paths get API Gateway's
own `{"message":"Not Found"}`; a crashed integration gets its bare 500.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from tidewatch_local.template import TemplateModel

_TEXT_TYPES = ("text/", "application/json", "application/problem+json", "application/x-www-form-urlencoded")

# (function name, event) -> the handler's result, run the way a Lambda sandbox runs it.
Invoke = Callable[[str, dict[str, Any]], Awaitable[Any]]


def now_strings() -> tuple[str, int]:
    """The request time as API Gateway stamps it: CLF text and epoch milliseconds."""
    now = datetime.now(UTC)
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(now.timestamp() * 1000)


def request_headers(scope: Scope) -> tuple[dict[str, str], list[str]]:
    """Headers as API Gateway passes them: lower-case names, repeated values comma-joined."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers, cookies


def build_http_event(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: dict[str, str],
    cookies: list[str],
    body: bytes,
    route_key: str,
    path_parameters: dict[str, str],
    source_ip: str,
    domain: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    content_type = headers.get("content-type", "")
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    if is_text:
        try:
            body_text = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    time_text, epoch_ms = now_strings()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": time_text,
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = body_text if is_text else base64.b64encode(body).decode()
    return event


def response_from_result(result: Any) -> Response:
    """Turn a payload 2.0 handler result into an HTTP response, as API Gateway does."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # Payload 2.0 lets a handler return a bare value: API Gateway sends it as JSON with 200.
        return Response(json.dumps(result), status_code=200, media_type="application/json")
    raw_body = result.get("body") or ""
    body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode()
    response = Response(body, status_code=int(result["statusCode"]))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.append(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    return response


class HttpApiBridge:
    """The HTTP API: template routes → payload 2.0 events → the routed function's handler."""

    def __init__(self, template: TemplateModel, invoke: Invoke) -> None:
        self.template = template
        self._invoke = invoke

    async def handle(self, request: Request, path: str) -> Response:
        method = request.method.upper()
        matched = self.template.match_http(method, path)
        if matched is None and method == "OPTIONS":
            # CORS preflight: API Gateway forwards it when a route exists for the path.
            matched = next(
                (m for m in (self.template.match_http(r.method, path) for r in self.template.http_routes) if m),
                None,
            )
        if matched is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        route, params = matched
        headers, cookies = request_headers(request.scope)
        client = request.client.host if request.client else "127.0.0.1"
        event = build_http_event(
            method=method,
            path=path,
            query_string=request.url.query,
            headers=headers,
            cookies=cookies,
            body=await request.body(),
            route_key=route.route_key,
            path_parameters=params,
            source_ip=client,
            domain=request.url.netloc,
        )
        try:
            result = await self._invoke(route.function, event)
        except Exception:  # API Gateway answers a crashed integration with a bare 500
            # The function's own log shows the error, as CloudWatch would; the client sees no internals.
            logging.getLogger("tidewatch.gateway").exception("function %s failed", route.function)
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        return response_from_result(result)
