"""The migrations function end to end: a CloudFormation request → real Postgres → a PUT to the response URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from migrations import handler
from migrations.cfn import put_response
from tidewatch import runtime
from tidewatch.db import Database
from tidewatch.migrate import discover

pytestmark = pytest.mark.integration


Received = list[tuple[str, dict[str, str], bytes]]


class _Capture(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append((self.path, dict(self.headers), self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def response_server() -> Iterator[tuple[str, Received]]:
    """A stand-in for the presigned S3 URL CloudFormation waits on."""
    _Capture.received = []
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/cfn-response?sig=1", _Capture.received
    server.shutdown()


class _Context:
    function_name = "tidewatch-dev-migrations"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tidewatch-dev-migrations:live"
    aws_request_id = "lambda-req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def migrations_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    monkeypatch.delenv("TIDEWATCH_DATABASE_SECRET_ARN", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    runtime.reset()
    yield
    runtime.reset()


def test_put_response_sends_the_body_with_an_empty_content_type(response_server: tuple[str, Received]) -> None:
    url, received = response_server
    put_response(url, b'{"Status": "SUCCESS"}')
    [(path, headers, body)] = received
    assert path == "/cfn-response?sig=1"
    assert headers.get("Content-Type", "") == ""
    assert json.loads(body) == {"Status": "SUCCESS"}


def test_a_deploy_applies_migrations_to_postgres_and_reports_success(
    migrations_env: None, response_server: tuple[str, Received], db: Database
) -> None:
    # Given a migrated database (the session fixture) and a CloudFormation Update request
    url, received = response_server
    event = {
        "RequestType": "Update",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tidewatch-dev/abc",
        "RequestId": "req-2",
        "LogicalResourceId": "Migrations",
        "PhysicalResourceId": "tidewatch-migrations",
        "ResourceType": "Custom::Migrations",
        "ResourceProperties": {"ServiceToken": "arn", "CodeVersion": "8"},
    }
    # When the Lambda handler runs it
    result = handler.lambda_handler(event, _Context())
    # Then it is a no-op success (already up to date) and CloudFormation heard so
    assert result == {"status": "SUCCESS", "applied": []}
    [(_, _, body)] = received
    answer = json.loads(body)
    assert answer["Status"] == "SUCCESS"
    assert answer["RequestId"] == "req-2"
    with db.connection() as conn:
        versions = {r["version"] for r in conn.execute("SELECT version FROM schema_migrations")}
    assert versions == {m.version for m in discover()}


def test_a_direct_invoke_migrates(migrations_env: None) -> None:
    assert handler.lambda_handler({"action": "migrate"}, _Context()) == {"ok": True, "result": {"applied": []}}


def test_a_bad_direct_invoke_gets_an_error_envelope(migrations_env: None) -> None:
    result = handler.lambda_handler({"action": "drop-everything"}, _Context())
    assert result["ok"] is False
    assert result["error"]["status"] == 422
