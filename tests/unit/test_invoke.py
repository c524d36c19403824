"""Function-to-function calls: envelopes unwrap to results, refusals come back as domain errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tidewatch.entrypoint import error_envelope, run_typed
from tidewatch.errors import UpstreamUnavailable
from tidewatch.forecast.client import RiskFunctionClient
from tidewatch.forecast.payloads import RiskBatchRequest, RiskBatchResult
from tidewatch.invoke import HANDLERS, InProcessInvoker, LambdaInvoker, RemoteProblem, call
from tidewatch.transactions.client import WalletFunctionClient
from tidewatch.transactions.errors import WouldRevert
from tidewatch.transactions.models import PollRequest, PollResult
from tidewatch_local.template import read_template


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


# --- local mode: the callee's handler, through JSON, with the typed clients on top ---

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_the_in_process_invoker_runs_the_handlers_the_template_names() -> None:
    # Given the template's handlers of the functions other functions call
    handlers = {spec.logical_id: spec.handler for spec in read_template().functions.values()}
    # Then the invoker resolves each short name to the same handler
    expected = {
        "risk": handlers["RiskFunction"],
        "wallet": handlers["WalletFunction"],
        "websocket": handlers["WebSocketFunction"],
    }
    assert expected == HANDLERS


def test_the_in_process_invoker_sends_json_both_ways_with_a_lambda_context() -> None:
    # Given a handler that keeps what it got and answers with Python values JSON does not keep
    seen: list[tuple[dict[str, Any], Any]] = []
    sent = {"action": "poll", "limit": 5}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append((event, context))
        return {"ok": True, "result": {"pair": (1, 2)}}

    # When the wallet is invoked in process
    answer = InProcessInvoker({"wallet": handler}).invoke("wallet", sent)
    # Then the handler got a copy of the payload as JSON carries it, with a Lambda-shaped context
    event, context = seen[0]
    assert event == sent
    assert event is not sent
    assert context.function_name == "wallet"
    assert context.get_remaining_time_in_millis() > 0
    # And the answer came back as JSON would bring it
    assert answer == {"ok": True, "result": {"pair": [1, 2]}}


def test_the_risk_client_scores_through_the_risk_handler_named_in_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the risk function serving its shipped models (no registry), resolved from its handler path
    from risk import deps
    from tidewatch.observability import metrics

    monkeypatch.setenv("TIDEWATCH_MODEL_REGISTRY", "false")
    monkeypatch.setattr(metrics.provider, "namespace", "TidewatchTest")
    deps.production_deps.cache_clear()
    request = RiskBatchRequest.model_validate(json.loads((EVENTS / "risk" / "score_risk_batch.json").read_text()))
    try:
        # When the api's risk client asks for a batch in local mode
        result = RiskFunctionClient(InProcessInvoker()).score_batch(request)
    finally:
        deps.production_deps.cache_clear()
    # Then the typed answer carries one forecast per position, in order, worst first here
    assert isinstance(result, RiskBatchResult)
    assert [f.position_id for f in result.forecasts] == ["hf-1.05", "hf-1.2", "hf-1.6"]
    assert result.forecasts[0].probability >= result.forecasts[-1].probability
    assert result.errors == []


def test_the_wallet_client_round_trips_its_typed_request_and_answer() -> None:
    # Given a wallet handler that answers a poll with the wallet's envelope
    received: list[dict[str, Any]] = []
    answer = {"checked": 2, "confirmed": 1, "failed": 0, "replaced": 0, "still_pending": 1, "round_trips": 1}

    def wallet(event: dict[str, Any], context: Any) -> dict[str, Any]:
        received.append(event)
        return run_typed(event, PollRequest, lambda poll: PollResult(**answer))

    # When the client polls
    result = WalletFunctionClient(InProcessInvoker({"wallet": wallet})).poll(PollRequest(limit=7))
    # Then the handler read the request the model writes, and the client the model it answers
    assert received == [{"action": "poll", "limit": 7}]
    assert result == PollResult(**answer)


def test_a_refusal_through_a_client_is_the_callee_s_domain_error() -> None:
    # Given a wallet handler that refuses with a would-revert problem (its envelope)
    refusal = WouldRevert("Borrow would revert", reason="COLLATERAL_CANNOT_COVER_NEW_BORROW")

    def wallet(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return error_envelope(refusal)

    # When the client polls, then the caller gets the same problem as a domain error
    with pytest.raises(RemoteProblem) as caught:
        WalletFunctionClient(InProcessInvoker({"wallet": wallet})).poll(PollRequest())
    assert caught.value.status == refusal.status
    assert caught.value.to_problem() == refusal.to_problem()
