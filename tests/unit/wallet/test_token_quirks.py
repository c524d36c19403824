"""Token quirks in planning: USDT's approve rule and repay-max approvals that interest cannot outgrow."""

from __future__ import annotations

from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import CallResult
from tidewatch.protocols.registry import load_registry
from tidewatch.transactions import plans
from tidewatch.transactions.models import Intent
from tidewatch.transactions.settings import WalletSettings

USER = "0x1111111111111111111111111111111111111111"
MAINNET = load_registry("mainnet").chain(1)
USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
CUSDTV3 = "0x3Afdc9BCA9213A35503b077a6072F3D0d5AB0840"
AAVE_POOL = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"


def intent(**overrides: Any) -> Intent:
    values: dict[str, Any] = {"chain_id": 1, "protocol": "aave-v3", "action": "supply", "from": USER, "asset": "USDT"}
    values.update(overrides)
    if "amount" not in values and "amount_base_units" not in values:
        values["amount"] = "100"
    return Intent.model_validate(values)


def ok(*values: Any) -> CallResult:
    return CallResult(True, tuple(values))


def reserve(variable_debt: int = 0) -> CallResult:
    return ok(0, 0, variable_debt, 0, 0, 0, 0, 0, False)


def test_usdt_with_a_leftover_allowance_is_reset_to_zero_before_the_new_approval() -> None:
    # Given 40 USDT of allowance left to Aave (e.g. the buffer of an earlier repay-max)
    target = plans.resolve(intent(), MAINNET)
    calls = plans.plan(target, [ok(500 * 10**6), ok(40 * 10**6), reserve()], WalletSettings())
    # Then USDT (which reverts on non-zero -> non-zero) is approved to 0 first, then to 100
    assert [c.data for c in calls] == [
        abi.ERC20_APPROVE.encode(AAVE_POOL, 0),
        abi.ERC20_APPROVE.encode(AAVE_POOL, 100 * 10**6),
        abi.AAVE_SUPPLY.encode(USDT, 100 * 10**6, USER, 0),
    ]
    assert all(c.to == USDT for c in calls[:2])
    assert "to 0" in calls[0].summary


def test_usdt_from_a_zero_allowance_and_other_tokens_need_a_single_approval() -> None:
    usdt = plans.resolve(intent(), MAINNET)
    assert len(plans.plan(usdt, [ok(500 * 10**6), ok(0), reserve()], WalletSettings())) == 2
    usdc = plans.resolve(intent(asset="USDC"), MAINNET)
    calls = plans.plan(usdc, [ok(500 * 10**6), ok(40 * 10**6), reserve()], WalletSettings())
    assert [c.decoded.function for c in calls] == [abi.ERC20_APPROVE.signature, abi.AAVE_SUPPLY.signature]


def test_repay_max_approves_above_the_debt_even_when_the_wallet_holds_exactly_the_debt() -> None:
    # Given a 1,000 USDT debt and exactly 1,000 USDT in the wallet
    debt = 1_000 * 10**6
    target = plans.resolve(intent(action="repay", amount="max"), MAINNET)
    calls = plans.plan(target, [ok(debt), ok(0), reserve(variable_debt=debt)], WalletSettings())
    # Then the approval covers the interest that accrues until inclusion (never capped at the
    # wallet balance: an allowance below the debt at inclusion would make repay(max) revert)
    approved = int(calls[0].decoded.args["amount"])
    assert approved == plans.repay_max_allowance(debt, WalletSettings()) > debt
    assert calls[1].data == abi.AAVE_REPAY.encode(USDT, 2**256 - 1, 2, USER)


def test_comet_repay_max_supplies_max_base_with_a_buffered_approval() -> None:
    # Given a cUSDTv3 borrower owing 2,000 USDT with 3,000 in the wallet and 5 USDT allowance left
    debt = 2_000 * 10**6
    target = plans.resolve(intent(protocol="compound-v3", action="repay", amount="max", market=CUSDTV3), MAINNET)
    calls = plans.plan(target, [ok(3_000 * 10**6), ok(5 * 10**6), ok(0), ok(debt)], WalletSettings())
    # Then: approve 0 (USDT), approve debt + buffer, supply(USDT, max) which repays borrowBalanceOf
    assert [c.data for c in calls] == [
        abi.ERC20_APPROVE.encode(CUSDTV3, 0),
        abi.ERC20_APPROVE.encode(CUSDTV3, plans.repay_max_allowance(debt, WalletSettings())),
        abi.COMET_SUPPLY.encode(USDT, 2**256 - 1),
    ]
    plans.check_targets(calls, MAINNET)
