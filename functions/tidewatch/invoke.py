"""How one function calls another (api/rules → risk, wallet): a typed payload in, JSON out.

In AWS this is a synchronous Lambda invoke (`RequestResponse`); locally and in tests the target
handler runs in-process with a Lambda-shaped context, so the same payloads cross the same
boundary. Either way the callee answers with the `tidewatch.entrypoint` envelope
(`{"ok": true, "result": ...}` or `{"ok": false, "error": problem}`), which `call` unwraps: an
error envelope is raised again as the domain error it describes.
"""

from __future__ import annotations

import importlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from tidewatch.errors import DomainError, UpstreamUnavailable
from tidewatch.settings import FunctionsSettings

# Short names → handler modules, for the in-process invoker (mirrors template.yaml).
HANDLERS = {"risk": "risk.handler", "wallet": "wallet.handler", "websocket": "api.ws_handler"}


class FunctionInvoker(Protocol):
    def invoke(self, function: str, payload: dict[str, Any]) -> Any: ...


class RemoteProblem(DomainError):
    """A refusal from the called function, carried back with its status and problem type."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail", "refused")), slug=str(problem.get("type", "")).rsplit("/", 1)[-1])
        self.status = int(problem.get("status", 400))  # type: ignore[misc]
        self.title = str(problem.get("title", "Refused"))  # type: ignore[misc]
        self.extra = {k: v for k, v in problem.items() if k not in {"type", "title", "status", "detail"}}


def call(invoker: FunctionInvoker, function: str, payload: BaseModel | dict[str, Any]) -> Any:
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    answer = invoker.invoke(function, body)
    if not isinstance(answer, dict) or "ok" not in answer:
        raise UpstreamUnavailable(f"{function} answered without an envelope", slug="function-failed")
    if not answer["ok"]:
        raise RemoteProblem(answer["error"])
    return answer["result"]


@dataclass
class _Context:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    invoked_function_arn: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def lambda_context(function: str) -> _Context:
    """A Lambda-shaped context for running a handler in this process."""
    return _Context(
        function_name=function,
        aws_request_id=str(uuid.uuid4()),
        invoked_function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{function}",
    )


class InProcessInvoker:
    """Runs the target handler in this process (local run, tests)."""

    def invoke(self, function: str, payload: dict[str, Any]) -> Any:
        module = importlib.import_module(HANDLERS[function])
        context = lambda_context(function)
        # Through JSON both ways, as Lambda does, so nothing non-serialisable slips across.
        return json.loads(json.dumps(module.lambda_handler(json.loads(json.dumps(payload)), context)))


class LambdaInvoker:
    """Synchronous Lambda invoke; function names come from settings (e.g. tidewatch-prod-risk)."""

    def __init__(self, names: dict[str, str], *, client: Any = None) -> None:
        self._names = names
        self._client = client

    def _lambda(self) -> Any:
        if self._client is None:
            import boto3  # only deployed functions that call another pay for boto3

            self._client = boto3.client("lambda")
        return self._client

    def invoke(self, function: str, payload: dict[str, Any]) -> Any:
        response = self._lambda().invoke(
            FunctionName=self._names[function], InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
        )
        data = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            # The callee raised (a transient fault): surface it as upstream unavailability.
            raise UpstreamUnavailable(f"{function} failed: {data.get('errorMessage', 'unknown error')}")
        return data


def invoker_from_settings(settings: FunctionsSettings) -> FunctionInvoker:
    """In-process (`local`) or a synchronous Lambda invoke (`lambda`) of the configured functions."""
    if settings.invoke_mode == "lambda":
        return LambdaInvoker({"risk": settings.risk_function_name, "wallet": settings.wallet_function_name})
    return InProcessInvoker()
