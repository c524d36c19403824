"""The migrations custom resource always answers CloudFormation, with the right body, exactly once."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from migrations import logic
from migrations.cfn import MAX_REASON_CHARS, CustomResourceEvent

RESPONSE_URL = "https://cloudformation-custom-resource-response.s3.amazonaws.com/presigned"


def cfn_event(request_type: str, **extra: Any) -> CustomResourceEvent:
    return CustomResourceEvent.model_validate(
        {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:tidewatch-dev-migrations:live",
            "ResponseURL": RESPONSE_URL,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tidewatch-dev/abc",
            "RequestId": "req-1",
            "LogicalResourceId": "Migrations",
            "ResourceType": "Custom::Migrations",
            "ResourceProperties": {"CodeVersion": "7"},
            **extra,
        }
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes) -> None:
        self.calls.append((url, json.loads(body)))


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_apply_migrations_and_answer_success(request_type: str) -> None:
    # Given a deploy that creates or updates the resource
    sent = Recorder()
    # When the handler runs it
    result = logic.handle_custom_resource(
        cfn_event(request_type), migrate=lambda: ["0001_initial", "0100_chain"], send=sent
    )
    # Then migrations ran and CloudFormation got one SUCCESS naming them
    assert result == {"status": "SUCCESS", "applied": ["0001_initial", "0100_chain"]}
    [(url, body)] = sent.calls
    assert url == RESPONSE_URL
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == logic.PHYSICAL_RESOURCE_ID
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/tidewatch-dev/abc",
        "req-1",
        "Migrations",
    )
    assert body["Data"] == {"Applied": 2}
    assert "0100_chain" in body["Reason"]


def test_delete_leaves_the_database_alone() -> None:
    # Given a stack deletion (or the old resource of a replacement)
    sent = Recorder()

    def migrate() -> list[str]:
        raise AssertionError("delete must not touch the database")

    # When the handler runs it / Then it answers SUCCESS without migrating
    logic.handle_custom_resource(
        cfn_event("Delete", PhysicalResourceId="tidewatch-migrations"), migrate=migrate, send=sent
    )
    assert [body["Status"] for _, body in sent.calls] == ["SUCCESS"]


def test_a_failed_migration_answers_failed_with_the_error_instead_of_raising() -> None:
    # Given a migration that fails (e.g. an edited, already-applied file)
    sent = Recorder()

    def migrate() -> list[str]:
        raise RuntimeError("migration 0002_x was edited after it was applied" + "!" * 5000)

    # When the handler runs it
    result = logic.handle_custom_resource(cfn_event("Update"), migrate=migrate, send=sent)
    # Then CloudFormation gets FAILED with the cause (bounded), so the deploy rolls back at once
    assert result["status"] == "FAILED"
    [(_, body)] = sent.calls
    assert body["Status"] == "FAILED"
    assert "0002_x was edited" in body["Reason"]
    assert len(body["Reason"]) <= MAX_REASON_CHARS
    assert body["PhysicalResourceId"] == logic.PHYSICAL_RESOURCE_ID


def test_the_watchdog_answers_failed_before_the_lambda_timeout_and_only_once() -> None:
    # Given a migration stuck behind the advisory lock, with almost no time left
    sent = Recorder()
    answered = threading.Event()
    release = threading.Event()

    def send(url: str, body: bytes) -> None:
        sent(url, body)
        answered.set()

    def migrate() -> list[str]:
        answered.wait(timeout=30)  # returns once the watchdog has answered
        release.set()
        return []

    # When the handler runs with 10 s left (the watchdog fires at once)
    logic.handle_custom_resource(cfn_event("Update"), migrate=migrate, send=send, seconds_left=10.0)
    # Then the watchdog answered FAILED, and the late finish did not answer a second time
    assert release.is_set()
    assert [body["Status"] for _, body in sent.calls] == ["FAILED"]
    assert "timeout" in sent.calls[0][1]["Reason"]


def test_an_unreachable_response_url_does_not_raise() -> None:
    # Given CloudFormation's URL cannot be reached
    def send(url: str, body: bytes) -> None:
        raise OSError("network down")

    # When the handler answers / Then it logs instead of raising (a raise would be retried and answer twice)
    assert logic.handle_custom_resource(cfn_event("Create"), migrate=list, send=send)["status"] == "SUCCESS"


def test_a_direct_invoke_returns_the_applied_migrations_and_raises_on_failure() -> None:
    request = logic.MigrateRequest(action="migrate")
    assert logic.handle_direct(request, migrate=lambda: ["0200_x"]) == {"applied": ["0200_x"]}

    def failing() -> list[str]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        logic.handle_direct(request, migrate=failing)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Unreachable(Exception):
    pass


def test_migrations_wait_for_a_database_that_is_not_reachable_yet() -> None:
    # Given a database that refuses the first two connection attempts
    clock = _Clock()
    attempts: list[int] = []

    def migrate() -> list[str]:
        attempts.append(1)
        if len(attempts) < 3:
            raise Unreachable("connection refused")
        return ["0001_initial"]

    run = logic.retrying(
        migrate,
        is_transient=lambda e: isinstance(e, Unreachable),
        give_up_after_seconds=60,
        sleep=clock.sleep,
        clock=clock.time,
    )
    # When migrations run / Then they retry every 10 s and succeed on the third attempt
    assert run() == ["0001_initial"]
    assert clock.sleeps == [10.0, 10.0]


def test_migrations_give_up_on_an_unreachable_database_before_the_deadline() -> None:
    clock = _Clock()

    def migrate() -> list[str]:
        raise Unreachable("connection refused")

    run = logic.retrying(
        migrate,
        is_transient=lambda e: isinstance(e, Unreachable),
        give_up_after_seconds=35,
        sleep=clock.sleep,
        clock=clock.time,
    )
    with pytest.raises(Unreachable):
        run()
    assert clock.now <= 35


def test_a_failing_migration_is_not_retried() -> None:
    clock = _Clock()
    attempts: list[int] = []

    def migrate() -> list[str]:
        attempts.append(1)
        raise ValueError("syntax error in 0200_x.sql")

    run = logic.retrying(
        migrate,
        is_transient=lambda e: isinstance(e, Unreachable),
        give_up_after_seconds=60,
        sleep=clock.sleep,
        clock=clock.time,
    )
    with pytest.raises(ValueError, match="syntax error"):
        run()
    assert attempts == [1]
