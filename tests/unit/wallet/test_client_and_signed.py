"""The wallet client's envelope handling over a Lambda invoke, and signed-transaction decoding
(no AWS, no chain)."""

from __future__ import annotations

import io
import json
from typing import Any
from uuid import uuid4

import pytest
from eth_account import Account

from tidewatch.errors import DomainError, UpstreamUnavailable
from tidewatch.invoke import InProcessInvoker, LambdaInvoker, invoker_from_settings
from tidewatch.settings import FunctionsSettings
from tidewatch.transactions.client import WalletFunctionClient
from tidewatch.transactions.errors import SignedTransactionMismatch
from tidewatch.transactions.models import BroadcastRequest, PollRequest, PollResult
from tidewatch.transactions.signed import decode_signed


class FakeLambda:
    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload = payload
        self.function_error = function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


def lambda_wallet(name: str, fake: FakeLambda) -> WalletFunctionClient:
    return WalletFunctionClient(LambdaInvoker({"wallet": name}, client=fake))


def test_lambda_client_sends_the_typed_payload_and_parses_the_result() -> None:
    result = {"checked": 1, "confirmed": 1, "failed": 0, "replaced": 0, "still_pending": 0, "round_trips": 1}
    fake = FakeLambda({"ok": True, "result": result})
    client = lambda_wallet("tidewatch-dev-wallet", fake)
    assert client.poll(PollRequest()) == PollResult(**result)
    assert fake.calls[0]["FunctionName"] == "tidewatch-dev-wallet"
    assert fake.calls[0]["InvocationType"] == "RequestResponse"
    assert json.loads(fake.calls[0]["Payload"]) == {"action": "poll", "limit": 200}


def test_lambda_refusal_becomes_the_same_domain_error() -> None:
    # Given the wallet function refused with a would-revert problem
    problem = {
        "type": "https://tidewatch.dev/problems/transaction-would-revert",
        "title": "Transaction would revert",
        "status": 422,
        "detail": "Borrow 5000 USDC would revert: COLLATERAL_CANNOT_COVER_NEW_BORROW",
        "reason": "COLLATERAL_CANNOT_COVER_NEW_BORROW (Aave error 36)",
    }
    client = lambda_wallet("w", FakeLambda({"ok": False, "error": problem}))
    # When the api calls it, then the same problem comes out (status, type, title, detail, extras)
    with pytest.raises(DomainError) as refused:
        client.poll(PollRequest())
    assert refused.value.to_problem() == problem


def test_a_crashed_wallet_function_is_a_503() -> None:
    crashed = FakeLambda({"errorMessage": "Task timed out after 30.00 seconds"}, function_error="Unhandled")
    with pytest.raises(UpstreamUnavailable, match="timed out"):
        lambda_wallet("w", crashed).poll(PollRequest())
    with pytest.raises(UpstreamUnavailable, match="unexpected payload"):
        lambda_wallet("w", FakeLambda(["not", "an", "envelope"])).poll(PollRequest())


def test_invoke_mode_selects_the_invoker() -> None:
    assert isinstance(invoker_from_settings(FunctionsSettings(invoke_mode="lambda")), LambdaInvoker)
    assert isinstance(invoker_from_settings(FunctionsSettings(invoke_mode="local")), InProcessInvoker)


def test_signed_transactions_are_decoded_with_their_sender() -> None:
    account = Account.create()
    to = "0x" + "22" * 20
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": 8453,
            "nonce": 7,
            "to": to,
            "data": "0xabcdef",
            "value": 0,
            "gas": 60_000,
            "maxFeePerGas": 3,
            "maxPriorityFeePerGas": 1,
        },
        account.key,
    )
    decoded = decode_signed("0x" + bytes(signed.raw_transaction).hex())
    assert decoded.sender == account.address
    assert (decoded.to, decoded.data, decoded.chain_id, decoded.nonce, decoded.gas) == (
        to,
        bytes.fromhex("abcdef"),
        8453,
        7,
        60_000,
    )
    legacy = Account.sign_transaction(
        {"chainId": 1, "nonce": 0, "to": to, "data": "0x", "value": 5, "gas": 21_000, "gasPrice": 1}, account.key
    )
    assert decode_signed("0x" + bytes(legacy.raw_transaction).hex()).chain_id == 1


def test_garbage_is_not_a_signed_transaction() -> None:
    with pytest.raises(SignedTransactionMismatch):
        decode_signed("0x02c0ffee")
    # The request model refuses what is not hex at all
    with pytest.raises(ValueError, match="pattern"):
        BroadcastRequest(user_id=1, transaction_id=uuid4(), raw_transaction="0xzz")


def test_rules_preparer_sends_the_wallet_request_and_builds_the_rules_result() -> None:
    # Given the rules function's result shape and a wallet client that records what it gets
    from decimal import Decimal

    from pydantic import BaseModel

    from tidewatch.intents import RepayToHealthFactor
    from tidewatch.transactions.client import RulesTransactionPreparer
    from tidewatch.transactions.models import PrepareRequest

    class RulesPrepared(BaseModel):
        transaction_id: str
        summary: str

    seen: list[PrepareRequest] = []
    transaction_id = uuid4()

    class FakeWallet:
        def prepare(self, request: PrepareRequest) -> Any:
            seen.append(request)
            return type("Record", (), {"id": transaction_id, "summary": "Repay 1 USDC"})()

    preparer = RulesTransactionPreparer(FakeWallet(), RulesPrepared)  # type: ignore[arg-type]
    request = PrepareRequest.model_validate(
        {
            "user_id": 3,
            "portfolio_id": 4,
            "rule_id": 5,
            "idempotency_key": "rule:5:w",
            "intent": {
                "kind": "repay_to_health_factor",
                "market_id": 9,
                "target_health_factor": "1.5",
            },
        }
    )
    # When a rule's repay action is prepared
    result = preparer.prepare(request)
    # Then the wallet got the typed request unchanged and the rules got their result type back
    assert seen == [request]
    assert seen[0].intent == RepayToHealthFactor(
        kind="repay_to_health_factor", market_id=9, target_health_factor=Decimal("1.5")
    )
    assert isinstance(result, RulesPrepared)
    assert result.transaction_id == str(transaction_id)
    assert result.summary == "Repay 1 USDC"
