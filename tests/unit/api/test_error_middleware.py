"""The API's error middleware on the raw ASGI interface (api.problems): what each does with an
exception escaping the app, before and after the response has started."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import psycopg
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api.problems
from api.problems import DatabaseErrorMiddleware, UnexpectedErrorMiddleware

HTTP: Scope = {"type": "http", "method": "GET", "path": "/things", "headers": [], "query_string": b""}


class _Boom(Exception):
    pass


def _raising(exc: Exception, *, start_first: bool) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if start_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc

    return app


def _run(app: ASGIApp, scope: Scope = HTTP) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _problem(sent: list[Message]) -> tuple[int, dict[str, Any]]:
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert start["type"] == "http.response.start"
    assert (b"content-type", b"application/problem+json") in start["headers"]
    return int(start["status"]), json.loads(body)


class _Log:
    """Stands in for the logger: keeps what `exception` was called with and the exception in flight."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, BaseException | None]] = []

    def exception(self, message: str, **_: Any) -> None:
        self.calls.append((message, sys.exc_info()[1]))


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> _Log:
    stand_in = _Log()
    monkeypatch.setattr(api.problems, "logger", stand_in)
    return stand_in


def test_an_unexpected_error_before_the_response_is_a_logged_500_problem(log: _Log) -> None:
    # Given an app that raises before answering
    boom = _Boom("secret internals")
    # When it runs behind the unexpected-error middleware
    sent = _run(UnexpectedErrorMiddleware(_raising(boom, start_first=False)))
    # Then the client gets a bare 500 problem naming the path, and the traceback is logged once
    status, body = _problem(sent)
    assert status == 500
    assert body["type"].endswith("/internal")
    assert body["instance"] == "/things"
    assert "secret" not in json.dumps(body)
    assert log.calls == [("unhandled error", boom)]


def test_an_unexpected_error_after_the_response_started_is_logged_and_nothing_more_is_sent(log: _Log) -> None:
    # Given an app that starts its answer and then raises
    boom = _Boom("late")
    # When it runs behind the unexpected-error middleware
    sent = _run(UnexpectedErrorMiddleware(_raising(boom, start_first=True)))
    # Then only the started answer went out, nothing escapes, and the error is logged
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert log.calls == [("unhandled error", boom)]


def test_a_data_error_before_the_response_is_a_422_problem_and_after_it_goes_on_outwards() -> None:
    # Given an app raising the driver's data error before it answers
    sent = _run(DatabaseErrorMiddleware(_raising(psycopg.DataError("out of range"), start_first=False)))
    # Then the database-error middleware answers the unstorable-value problem
    status, body = _problem(sent)
    assert (status, body["type"].rsplit("/", 1)[-1]) == (422, "unstorable-value")
    # When the same error comes after the answer started, Then it goes on outwards unchanged
    late = psycopg.DataError("late")
    with pytest.raises(psycopg.DataError) as raised:
        _run(DatabaseErrorMiddleware(_raising(late, start_first=True)))
    assert raised.value is late


def test_errors_that_are_not_the_drivers_and_other_scopes_go_through_the_database_middleware() -> None:
    # Given an app raising an error of its own, When it runs behind the database-error middleware
    boom = _Boom("not the driver's")
    with pytest.raises(_Boom) as raised:
        _run(DatabaseErrorMiddleware(_raising(boom, start_first=False)))
    # Then it escapes unchanged
    assert raised.value is boom
    # And in a lifespan scope neither middleware catches anything
    for middleware in (DatabaseErrorMiddleware, UnexpectedErrorMiddleware):
        with pytest.raises(_Boom):
            _run(middleware(_raising(_Boom("lifespan"), start_first=False)), {"type": "lifespan"})
