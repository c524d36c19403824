"""How other functions (api, rules) reach the wallet function: `WalletFunctionClient`.

The client sends the wallet's typed requests (`PrepareRequest`, `BroadcastRequest`,
`PollRequest`, the models its handler parses) over the one invoker (`tidewatch.invoke`): the
wallet handler in this process locally, a synchronous Lambda invoke in AWS. A refusal comes back
as the domain error with the same status, type, title and detail, so the api answers exactly
as the wallet refused. Nothing here imports web3, boto3 or the wallet's chain code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Generic, Protocol, TypeVar

from tidewatch.invoke import FunctionInvoker, call, invoker_from_settings
from tidewatch.settings import FunctionsSettings
from tidewatch.transactions.models import (
    BroadcastRequest,
    BroadcastResult,
    PollRequest,
    PollResult,
    PreparedTransactions,
    PrepareRequest,
)

WALLET = "wallet"


class WalletClient(Protocol):
    def prepare(self, request: PrepareRequest) -> PreparedTransactions: ...

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult: ...

    def poll(self, request: PollRequest) -> PollResult: ...


class WalletFunctionClient:
    """The wallet function over an invoker: one typed request in, one typed answer out."""

    def __init__(self, invoker: FunctionInvoker) -> None:
        self._invoker = invoker

    def prepare(self, request: PrepareRequest) -> PreparedTransactions:
        return call(self._invoker, WALLET, request, PreparedTransactions)

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult:
        return call(self._invoker, WALLET, request, BroadcastResult)

    def poll(self, request: PollRequest) -> PollResult:
        return call(self._invoker, WALLET, request, PollResult)


@lru_cache(maxsize=1)
def production_wallet_client() -> WalletClient:
    """The wallet as TIDEWATCH_INVOKE_MODE says: its handler in this process, or its Lambda."""
    return WalletFunctionClient(invoker_from_settings(FunctionsSettings()))


T = TypeVar("T")


class RulesTransactionPreparer(Generic[T]):
    """The rules function's `TransactionPreparer` over a `WalletClient`.

    Wire it in rules/deps.py as `RulesTransactionPreparer(client, PreparedTransaction)`: the rules
    send the wallet's own `PrepareRequest` (user, portfolio, rule, intent, idempotency key), and the
    result is built with `make(transaction_id=..., summary=...)`.
    """

    def __init__(self, client: WalletClient, make: Callable[..., T]) -> None:
        self._client = client
        self._make = make

    def prepare(self, request: PrepareRequest) -> T:
        record = self._client.prepare(request)
        return self._make(transaction_id=str(record.id), summary=record.summary)
