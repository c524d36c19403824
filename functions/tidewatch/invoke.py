"""How one function calls another: the one invoker every caller goes through.

A typed client per callee (`tidewatch.forecast.client.RiskFunctionClient`,
`tidewatch.transactions.client.WalletFunctionClient`) sends a pydantic request with `call` and
gets its pydantic answer back. In AWS the invoker is a synchronous Lambda invoke
(`RequestResponse`); locally and in tests it runs the callee's handler (the one template.yaml
names, resolved by import path, so no function package imports another) with a Lambda-shaped
context and JSON both ways, so the same payloads cross the same boundary. Either way the callee
answers with the `tidewatch.entrypoint` envelope (`{"ok": true, "result": ...}` or
`{"ok": false, "error": problem}`); `call` is the one place that unwraps it, and `RemoteProblem`
the one place a refusal becomes a domain error again.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

from pydantic import BaseModel

from tidewatch.errors import PROBLEM_BASE, DomainError, UpstreamUnavailable
from tidewatch.settings import FunctionsSettings

# Short names → the handlers template.yaml names (a template test keeps them equal).
HANDLERS = {
    "risk": "risk.handler.lambda_handler",
    "wallet": "wallet.handler.lambda_handler",
    "websocket": "api.ws_handler.lambda_handler",
}

R = TypeVar("R", bound=BaseModel)
Handler = Callable[[dict[str, Any], Any], Any]


class FunctionInvoker(Protocol):
    def invoke(self, function: str, payload: dict[str, Any]) -> Any:
        """The callee's raw answer (its envelope) to this JSON payload."""
        ...


class RemoteProblem(DomainError):
    """A refusal from the called function, carried back with its status, type, title and extras."""

    def __init__(self, problem: Mapping[str, Any]) -> None:
        kind = str(problem.get("type", ""))
        slug = kind.removeprefix(PROBLEM_BASE) if kind.startswith(PROBLEM_BASE) else kind.rsplit("/", 1)[-1]
        title = str(problem.get("title", "Refused"))
        extra = {k: v for k, v in problem.items() if k not in {"type", "title", "status", "detail"}}
        super().__init__(str(problem.get("detail", title)), slug=slug or "remote-refusal", **extra)
        self.status = int(problem.get("status", 502))  # type: ignore[misc]
        self.title = title  # type: ignore[misc]


@overload
def call(invoker: FunctionInvoker, function: str, request: BaseModel | dict[str, Any], answer: type[R]) -> R: ...
@overload
def call(invoker: FunctionInvoker, function: str, request: BaseModel | dict[str, Any], answer: None = None) -> Any: ...
def call(
    invoker: FunctionInvoker, function: str, request: BaseModel | dict[str, Any], answer: type[R] | None = None
) -> Any:
    """Send `request` to `function` and return its result (parsed as `answer` when given).

    A refusal is raised as `RemoteProblem` with the callee's problem; an answer that is no
    envelope at all is an upstream failure.
    """
    body = request.model_dump(mode="json") if isinstance(request, BaseModel) else request
    envelope = invoker.invoke(function, body)
    if not isinstance(envelope, dict) or "ok" not in envelope:
        raise UpstreamUnavailable(
            f"the {function} function answered with an unexpected payload", slug=f"{function}-unavailable"
        )
    if not envelope["ok"]:
        raise RemoteProblem(envelope.get("error") or {})
    return envelope["result"] if answer is None else answer.model_validate(envelope["result"])


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


def resolve_handler(path: str) -> Handler:
    """`package.module.attribute` (a template Handler) → the callable, imported on first use."""
    module, _, attribute = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module), attribute)
    return handler


class InProcessInvoker:
    """Runs the callee's handler in this process (local run, tests).

    The handler is the one `HANDLERS` names unless `handlers` supplies one (a test's handler
    with its own collaborators). Payload and answer go through JSON, as Lambda sends them, so
    nothing non-serialisable slips across.
    """

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers = dict(handlers or {})

    def invoke(self, function: str, payload: dict[str, Any]) -> Any:
        handler = self._handlers.get(function) or resolve_handler(HANDLERS[function])
        return json.loads(json.dumps(handler(json.loads(json.dumps(payload)), lambda_context(function))))


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
        body = response["Payload"].read() or b"null"
        if response.get("FunctionError"):
            # The callee raised (a transient fault): surface it as upstream unavailability.
            try:
                detail = str(json.loads(body).get("errorMessage", "unknown error"))[:300]
            except (ValueError, AttributeError):
                detail = body[:300].decode(errors="replace")
            raise UpstreamUnavailable(f"the {function} function failed: {detail}", slug=f"{function}-unavailable")
        return json.loads(body)


def invoker_from_settings(settings: FunctionsSettings) -> FunctionInvoker:
    """In-process (`local`) or a synchronous Lambda invoke (`lambda`) of the configured functions."""
    if settings.invoke_mode == "lambda":
        return LambdaInvoker({"risk": settings.risk_function_name, "wallet": settings.wallet_function_name})
    return InProcessInvoker()
