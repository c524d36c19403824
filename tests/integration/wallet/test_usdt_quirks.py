"""On the seeded anvil devnet, with a token that has Tether's approve rule and no bool returns:
a Compound III repay-max followed by a supply of the same token both execute."""

from __future__ import annotations

import pytest

from tidewatch.chain import abi
from tidewatch.db import Database
from tidewatch.transactions.models import Intent, PollRequest, PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign_and_send_all

pytestmark = pytest.mark.integration


def _read(devnet: Devnet, to: str, fn: abi.Function, *args: object) -> tuple[object, ...]:
    return fn.decode(devnet.client().eth_call(to, fn.encode(*args)))


def test_usdt_repay_max_then_supply_both_execute(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given grace, who owes ~2,000 USDT on cUSDTv3 and holds 5,000 USDT (the devnet USDT refuses
    # approve from a non-zero allowance to another non-zero value, and returns no bool)
    grace = devnet.user("grace-usdt-borrower")
    user_id, _ = add_user(db, grace["address"])
    comet = devnet.deployment.contracts["comet_cUSDTv3"]
    usdt = devnet.token("USDT")
    debt = _read(devnet, comet, abi.COMET_BORROW_BALANCE_OF, grace["address"])[0]
    assert isinstance(debt, int)
    assert debt >= 2_000 * 10**6

    # When she repays everything ("max") on Compound v3
    repay = wallet.prepare(
        PrepareRequest(
            user_id=user_id,
            intent=Intent.model_validate(
                {
                    "chain_id": 1,
                    "protocol": "compound-v3",
                    "action": "repay",
                    "from": grace["address"],
                    "asset": "USDT",
                    "market": comet,
                    "amount": "max",
                }
            ),
        )
    )
    assert [t.decoded.function for t in repay.transactions] == ["approve(address,uint256)", "supply(address,uint256)"]
    assert int(repay.transactions[0].decoded.args["amount"]) > debt  # a buffer for accruing interest
    sign_and_send_all(wallet, user_id, repay, grace["private_key"])
    # Then the debt is gone, interest accrued until inclusion included, and an allowance is left
    assert _read(devnet, comet, abi.COMET_BORROW_BALANCE_OF, grace["address"]) == (0,)
    left = _read(devnet, usdt, abi.ERC20_ALLOWANCE, grace["address"], comet)[0]
    assert isinstance(left, int)
    assert left > 0

    # When she then supplies 500 USDT to the same market
    supply = wallet.prepare(
        PrepareRequest(
            user_id=user_id,
            intent=Intent.model_validate(
                {
                    "chain_id": 1,
                    "protocol": "compound-v3",
                    "action": "supply",
                    "from": grace["address"],
                    "asset": "USDT",
                    "market": comet,
                    "amount": "500",
                }
            ),
        )
    )
    # Then the plan resets the leftover allowance to 0 before approving 500, and all three execute
    assert [(t.decoded.function, t.decoded.args.get("amount")) for t in supply.transactions] == [
        ("approve(address,uint256)", "0"),
        ("approve(address,uint256)", "500000000"),
        ("supply(address,uint256)", "500000000"),
    ]
    sign_and_send_all(wallet, user_id, supply, grace["private_key"])
    result = wallet.poll(PollRequest())
    assert result.failed == 0
    supplied = _read(devnet, comet, abi.COMET_BALANCE_OF, grace["address"])[0]
    assert isinstance(supplied, int)
    assert 500 * 10**6 - 1 <= supplied <= 500 * 10**6
