"""Function-to-function calls: envelopes unwrap to results, refusals come back as domain errors."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tidewatch.errors import UpstreamUnavailable
from tidewatch.invoke import LambdaInvoker, RemoteProblem, call


class Recorder:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function: str, payload: dict[str, Any]) -> Any:
        self.calls.append((function, payload))
        return self.answer


def test_a_successful_envelope_unwraps_to_its_result() -> None:
    invoker = Recorder({"ok": True, "result": {"probability": 0.1}})
    assert call(invoker, "risk", {"action": "score"}) == {"probability": 0.1}
    assert invoker.calls == [("risk", {"action": "score"})]


def test_a_refusal_comes_back_as_the_domain_error_it_describes() -> None:
    problem = {
        "type": "https://tidewatch.dev/problems/validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "invalid event: horizon_hours",
        "errors": [{"field": "horizon_hours", "message": "too large"}],
    }
    with pytest.raises(RemoteProblem) as caught:
        call(Recorder({"ok": False, "error": problem}), "risk", {})
    assert caught.value.status == 422
    assert caught.value.to_problem() == problem


def test_an_answer_without_an_envelope_is_an_upstream_failure() -> None:
    with pytest.raises(UpstreamUnavailable):
        call(Recorder({"statusCode": 200}), "wallet", {})


class FakeLambdaClient:
    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload = payload
        self.function_error = function_error
        self.requests: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.function_error:
            answer["FunctionError"] = self.function_error
        return answer


def test_lambda_invoker_calls_the_configured_function_synchronously() -> None:
    client = FakeLambdaClient({"ok": True, "result": 1})
    invoker = LambdaInvoker({"risk": "tidewatch-prod-risk"}, client=client)
    assert call(invoker, "risk", {"action": "health"}) == 1
    assert client.requests[0]["FunctionName"] == "tidewatch-prod-risk"
    assert client.requests[0]["InvocationType"] == "RequestResponse"
    assert json.loads(client.requests[0]["Payload"]) == {"action": "health"}


def test_a_crashed_callee_is_an_upstream_failure_not_a_result() -> None:
    client = FakeLambdaClient({"errorMessage": "boom", "errorType": "RuntimeError"}, function_error="Unhandled")
    with pytest.raises(UpstreamUnavailable, match="boom"):
        LambdaInvoker({"risk": "r"}, client=client).invoke("risk", {})
