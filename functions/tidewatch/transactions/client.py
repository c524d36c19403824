"""How other functions (api, rules) reach the wallet: a `WalletClient` with two implementations.

* `InProcessWalletClient` calls the wallet's logic directly (local run, tests).
* `LambdaWalletClient` invokes the wallet Lambda synchronously with the same typed payload and
  turns its error envelope back into a `DomainError` with the same status, slug and detail, so the
  API answers exactly as if the logic had run in-process. boto3 is imported on first use.

`TIDEWATCH_INVOKE_MODE` (local | lambda) picks one (see `wallet_client_from_settings`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from tidewatch.errors import PROBLEM_BASE, DomainError, UpstreamUnavailable
from tidewatch.transactions.models import (
    BroadcastRequest,
    BroadcastResult,
    PollRequest,
    PollResult,
    PreparedTransactions,
    PrepareRequest,
)

R = TypeVar("R", bound=BaseModel)


class WalletClient(Protocol):
    def prepare(self, request: PrepareRequest) -> PreparedTransactions: ...

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult: ...

    def poll(self, request: PollRequest) -> PollResult: ...


class WalletLogic(Protocol):
    """What `tidewatch.transactions.service.WalletService` offers (kept structural: no import)."""

    def prepare(self, request: PrepareRequest) -> PreparedTransactions: ...

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult: ...

    def poll(self, request: PollRequest) -> PollResult: ...


class InProcessWalletClient:
    """Runs the wallet logic in this process; the service is built on first use."""

    def __init__(self, service: Callable[[], WalletLogic]) -> None:
        self._service = service

    def prepare(self, request: PrepareRequest) -> PreparedTransactions:
        return self._service().prepare(request)

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult:
        return self._service().broadcast(request)

    def poll(self, request: PollRequest) -> PollResult:
        return self._service().poll(request)


def remote_error(problem: dict[str, Any]) -> DomainError:
    """Rebuild the wallet function's refusal as a DomainError with the same status/slug/title."""
    status = int(problem.get("status", 502))
    slug = str(problem.get("type", "")).removeprefix(PROBLEM_BASE) or "wallet-error"
    title = str(problem.get("title", "Wallet error"))
    extra = {k: v for k, v in problem.items() if k not in ("type", "title", "status", "detail")}
    error_type = type("WalletRefusal", (DomainError,), {"type_slug": slug, "title": title, "status": status})
    error: DomainError = error_type(str(problem.get("detail", title)), **extra)
    return error


def parse_envelope(payload: Any, model: type[R]) -> R:
    if not isinstance(payload, dict) or "ok" not in payload:
        raise UpstreamUnavailable("the wallet function answered with an unexpected payload")
    if not payload["ok"]:
        raise remote_error(payload.get("error") or {})
    return model.model_validate(payload["result"])


class LambdaWalletClient:
    """Synchronous Lambda invoke of the wallet function (RequestResponse)."""

    def __init__(self, function_name: str, *, lambda_client: Any = None) -> None:
        self.function_name = function_name
        self._client = lambda_client

    def _lambda(self) -> Any:
        if self._client is None:
            import boto3  # lazily: only the Lambda mode needs it

            self._client = boto3.client("lambda")
        return self._client

    def _invoke(self, request: BaseModel, model: type[R]) -> R:
        response = self._lambda().invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(request.model_dump(mode="json")).encode(),
        )
        body = response["Payload"].read()
        if response.get("FunctionError"):
            detail = ""
            try:
                detail = str(json.loads(body).get("errorMessage", ""))[:300]
            except (ValueError, AttributeError):
                detail = body[:300].decode(errors="replace")
            raise UpstreamUnavailable(f"the wallet function failed: {detail}", slug="wallet-unavailable")
        return parse_envelope(json.loads(body), model)

    def prepare(self, request: PrepareRequest) -> PreparedTransactions:
        return self._invoke(request, PreparedTransactions)

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult:
        return self._invoke(request, BroadcastResult)

    def poll(self, request: PollRequest) -> PollResult:
        return self._invoke(request, PollResult)


def wallet_client_from_settings(
    invoke_mode: str, function_name: str, in_process: Callable[[], WalletLogic]
) -> WalletClient:
    if invoke_mode == "lambda":
        return LambdaWalletClient(function_name)
    return InProcessWalletClient(in_process)


T = TypeVar("T")


class RulesTransactionPreparer(Generic[T]):
    """The rules function's `TransactionPreparer` over a `WalletClient`.

    Wire it in rules/deps.py as `RulesTransactionPreparer(client, PreparedTransaction)`: the rules'
    request (user, portfolio, rule, intent, idempotency key) is re-read as the wallet's
    `PrepareRequest`, and the result built with `make(transaction_id=..., summary=...)`.
    """

    def __init__(self, client: WalletClient, make: Callable[..., T]) -> None:
        self._client = client
        self._make = make

    def prepare(self, request: BaseModel) -> T:
        record = self._client.prepare(PrepareRequest.model_validate(request.model_dump(mode="json")))
        return self._make(transaction_id=str(record.id), summary=record.summary)
