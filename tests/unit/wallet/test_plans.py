"""Intent validation and planning against the real mainnet registry, with read results given by hand."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tidewatch.chain import abi
from tidewatch.chain.multicall import CallResult
from tidewatch.protocols.registry import load_registry
from tidewatch.transactions import plans
from tidewatch.transactions.errors import AmountExceedsBalance, ContractNotAllowed, UnsupportedIntent
from tidewatch.transactions.models import Intent
from tidewatch.transactions.settings import WalletSettings

USER = "0x1111111111111111111111111111111111111111"
MAINNET = load_registry("mainnet").chain(1)
BASE = load_registry("mainnet").chain(8453)
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
AAVE_POOL = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"


def intent(**overrides: Any) -> Intent:
    values: dict[str, Any] = {
        "chain_id": 1,
        "protocol": "aave-v3",
        "action": "supply",
        "from": USER,
        "asset": "USDC",
        "amount": "100",
    }
    values.update(overrides)
    return Intent.model_validate(values)


def ok(*values: Any) -> CallResult:
    return CallResult(True, tuple(values))


def reserve(a_balance: int = 0, variable_debt: int = 0) -> CallResult:
    return ok(a_balance, 0, variable_debt, 0, 0, 0, 0, 0, False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": None}, "exactly one"),
        ({"amount_base_units": 5}, "exactly one"),
        ({"amount": "-1"}, "positive"),
        ({"amount": "abc"}, "decimal"),
        ({"protocol": "compound-v3", "action": "borrow"}, "supports supply, withdraw"),
        ({"protocol": "eigenlayer", "action": "supply"}, "supports deposit"),
        ({"action": "borrow", "amount": "max"}, '"max" is not supported'),
        ({"from": "0x123"}, "pattern"),
    ],
)
def test_bad_intents_are_rejected_naming_the_problem(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        intent(**overrides)


def test_human_units_become_exact_base_units() -> None:
    assert plans.to_base_units("1000.5", 6) == 1_000_500_000
    assert plans.to_base_units("0.000000000000000001", 18) == 1
    with pytest.raises(UnsupportedIntent, match="more than 6 decimals"):
        plans.to_base_units("0.0000001", 6)
    assert plans.units(1_000_500_000, 6) == "1000.5"
    assert plans.units(10**18, 18) == "1"


def test_resolve_finds_registry_markets_by_symbol_or_address() -> None:
    target = plans.resolve(intent(asset=USDC.lower()), MAINNET)
    assert target.spender == AAVE_POOL
    assert target.token.decimals == 6
    comet = plans.resolve(intent(protocol="compound-v3", asset="USDC", market="USDC"), MAINNET)
    assert comet.facts["is_base"]
    with pytest.raises(UnsupportedIntent, match="no PEPE"):
        plans.resolve(intent(asset="PEPE"), MAINNET)


def test_supply_approves_exactly_only_when_allowance_is_short() -> None:
    target = plans.resolve(intent(), MAINNET)
    # Given 500 USDC in the wallet and an allowance of 50: approve 100 exactly, then supply
    short = plans.plan(target, [ok(500 * 10**6), ok(50 * 10**6), reserve()], WalletSettings())
    assert [c.decoded.function for c in short] == [abi.ERC20_APPROVE.signature, abi.AAVE_SUPPLY.signature]
    assert short[0].to == USDC
    assert short[0].data == abi.ERC20_APPROVE.encode(AAVE_POOL, 100 * 10**6)
    assert short[1].data == abi.AAVE_SUPPLY.encode(USDC, 100 * 10**6, USER, 0)
    # Given an allowance of 100 already: the supply alone
    enough = plans.plan(target, [ok(500 * 10**6), ok(100 * 10**6), reserve()], WalletSettings())
    assert [c.decoded.function for c in enough] == [abi.AAVE_SUPPLY.signature]


def test_max_supply_uses_the_whole_wallet_balance_and_unlimited_approval_is_opt_in() -> None:
    target = plans.resolve(intent(amount="max"), MAINNET)
    calls = plans.plan(target, [ok(123), ok(0), reserve()], WalletSettings(approve_exact=False))
    assert calls[0].decoded.args["amount"] == str(2**256 - 1)
    assert calls[1].decoded.args["amount"] == "123"


def test_amount_guardrails() -> None:
    supply = plans.resolve(intent(amount="600"), MAINNET)
    with pytest.raises(AmountExceedsBalance, match="exceeds your wallet balance of 500 USDC"):
        plans.plan(supply, [ok(500 * 10**6), ok(0), reserve()], WalletSettings())
    withdraw = plans.resolve(intent(action="withdraw", amount="2"), MAINNET)
    with pytest.raises(AmountExceedsBalance, match="supplied balance"):
        plans.plan(withdraw, [ok(0), ok(0), reserve(a_balance=10**6)], WalletSettings())
    repay = plans.resolve(intent(action="repay", amount="max"), MAINNET)
    with pytest.raises(UnsupportedIntent, match="no USDC debt"):
        plans.plan(repay, [ok(10**9), ok(0), reserve()], WalletSettings())


def test_withdraw_max_needs_no_approval() -> None:
    target = plans.resolve(intent(action="withdraw", amount="max"), MAINNET)
    calls = plans.plan(target, [ok(0), ok(0), reserve(a_balance=7 * 10**6)], WalletSettings())
    assert len(calls) == 1
    assert calls[0].data == abi.AAVE_WITHDRAW.encode(USDC, 2**256 - 1, USER)
    assert "all (7)" in calls[0].summary


def test_eigenlayer_deposit_targets_the_strategy_manager() -> None:
    target = plans.resolve(intent(protocol="eigenlayer", action="deposit", asset="stETH", amount="1"), MAINNET)
    calls = plans.plan(target, [ok(10**18), ok(0)], WalletSettings())
    assert calls[1].decoded.function == abi.EIGEN_DEPOSIT_INTO_STRATEGY.signature
    assert calls[1].to == target.market.strategy_manager  # type: ignore[union-attr]
    plans.check_targets(calls, MAINNET)


def test_only_registry_contracts_are_allowed_targets() -> None:
    calls = plans.plan(plans.resolve(intent(), MAINNET), [ok(10**9), ok(0), reserve()], WalletSettings())
    plans.check_targets(calls, MAINNET)
    # The same calls are not allowed on Base, whose registry has other addresses
    with pytest.raises(ContractNotAllowed):
        plans.check_targets(calls, BASE)
