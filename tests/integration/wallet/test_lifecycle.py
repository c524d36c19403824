"""Prepare → sign with the test key → broadcast → poll, on the seeded anvil devnet: the protocol
state changes as intended, and the transactions table follows prepared → submitted → confirmed."""

from __future__ import annotations

import pytest

from tidewatch.chain import abi
from tidewatch.db import Database
from tidewatch.transactions.models import Intent, PollRequest, PreparedTransactions, PrepareRequest
from tidewatch.transactions.service import WalletService

from .conftest import Devnet, add_user, sign, sign_and_send_all, wait_for_receipt

pytestmark = pytest.mark.integration


def _read(devnet: Devnet, to: str, fn: abi.Function, *args: object) -> tuple[object, ...]:
    return fn.decode(devnet.client().eth_call(to, fn.encode(*args)))


def _prepare(wallet: WalletService, user_id: int, **intent: object) -> object:
    return wallet.prepare(PrepareRequest(user_id=user_id, intent=Intent.model_validate(intent)))


def test_aave_supply_adds_collateral_with_an_approval_first(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given alice (25,000 USDC in her wallet, no USDC allowance for the pool) in her portfolio
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    pool = devnet.deployment.contracts["aave_pool"]
    before = _read(devnet, pool, abi.AAVE_GET_USER_ACCOUNT_DATA, alice["address"])

    # When she prepares a supply of 1,000.5 USDC to Aave v3
    record = wallet.prepare(
        PrepareRequest(
            user_id=user_id,
            intent=Intent.model_validate(
                {
                    "chain_id": 1,
                    "protocol": "aave-v3",
                    "action": "supply",
                    "from": alice["address"],
                    "asset": "USDC",
                    "amount": "1000.5",
                }
            ),
        )
    )

    # Then she gets an exact approve followed by the supply, stored as prepared
    assert record.status == "prepared"
    assert [t.decoded.function for t in record.transactions] == [
        "approve(address,uint256)",
        "supply(address,uint256,address,uint16)",
    ]
    approve, supply = record.transactions
    assert approve.to == devnet.token("USDC")
    assert approve.decoded.args == {"spender": pool, "amount": "1000500000"}
    assert supply.to == pool
    assert supply.decoded.args["amount"] == "1000500000"
    assert "Supply 1000.5 USDC to Aave v3" in supply.summary
    # nonce/fee fields are present and sane: consecutive pending nonces, tip <= max fee, gas with margin
    assert int(supply.nonce, 16) == int(approve.nonce, 16) + 1
    for tx in record.transactions:
        assert tx.chain_id == "0x1"
        assert 0 < int(tx.max_priority_fee_per_gas, 16) <= int(tx.max_fee_per_gas, 16)
        assert int(tx.max_fee_per_gas, 16) >= record.fees.base_fee_per_gas
        assert int(tx.gas, 16) > tx.simulated_gas_used > 21_000
    assert record.fees.slow.max_priority_fee_per_gas <= record.fees.normal.max_priority_fee_per_gas
    assert record.fees.normal.max_priority_fee_per_gas <= record.fees.fast.max_priority_fee_per_gas

    # When she signs both with her key and they are broadcast, then receipts are polled
    sign_and_send_all(wallet, user_id, record, alice["private_key"])
    assert wallet.get(user_id, record.id).status == "submitted"
    result = wallet.poll(PollRequest())

    # Then both are confirmed and her Aave collateral rose by $1,000.50 (USD, 8 decimals)
    assert result.confirmed == 2
    assert result.round_trips == 1
    final = wallet.get(user_id, record.id)
    assert final.status == "confirmed"
    assert final.block_number is not None
    after = _read(devnet, pool, abi.AAVE_GET_USER_ACCOUNT_DATA, alice["address"])
    # (plus the interest her WETH supply accrued on the real Pool meanwhile: well under a cent)
    assert 0 <= after[0] - before[0] - 1000_50000000 < 10**6  # type: ignore[operator]


def test_no_approval_when_the_allowance_covers_the_amount(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given a repay of 500 USDC needs an approval first, and alice sends only that approval
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    intent = {"chain_id": 1, "protocol": "aave-v3", "action": "repay", "from": alice["address"], "asset": "USDC"}
    record = _prepare(wallet, user_id, **intent, amount="500")
    approve = record.transactions[0]  # type: ignore[attr-defined]
    assert approve.decoded.function == "approve(address,uint256)"
    client = devnet.client()
    wait_for_receipt(client, client.request("eth_sendRawTransaction", [sign(approve, alice["private_key"])]))

    # When she prepares the same repay again
    again = _prepare(wallet, user_id, **intent, amount="500")

    # Then only the repay is returned (the allowance covers it), at the next nonce
    assert [t.decoded.function for t in again.transactions] == ["repay(address,uint256,uint256,address)"]  # type: ignore[attr-defined]
    assert int(again.transactions[0].nonce, 16) == int(approve.nonce, 16) + 1  # type: ignore[attr-defined]


def test_aave_repay_reduces_debt(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice owes 10,000 USDC on Aave
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    dp = devnet.deployment.contracts["aave_data_provider"]
    debt_before = _read(devnet, dp, abi.AAVE_DP_GET_USER_RESERVE_DATA, devnet.token("USDC"), alice["address"])[2]

    # When she repays 4,000 USDC (prepare, sign, broadcast, poll)
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="aave-v3",
        action="repay",
        **{"from": alice["address"]},
        asset="USDC",
        amount="4000",
    )
    sign_and_send_all(wallet, user_id, record, alice["private_key"])  # type: ignore[arg-type]
    wallet.poll(PollRequest())

    # Then her variable debt is 4,000 USDC lower and the record is confirmed
    debt_after = _read(devnet, dp, abi.AAVE_DP_GET_USER_RESERVE_DATA, devnet.token("USDC"), alice["address"])[2]
    # (less the interest accrued on the real Pool between the two reads: a few base units)
    assert abs(4_000 * 10**6 - (debt_before - debt_after)) < 10**4  # type: ignore[operator]
    assert wallet.get(user_id, record.id).status == "confirmed"  # type: ignore[attr-defined]


def test_compound_supply_raises_the_base_balance(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice supplies 5,000 USDC to the Comet USDC market already
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    comet = devnet.deployment.contracts["comet_cUSDCv3"]
    before = _read(devnet, comet, abi.COMET_BALANCE_OF, alice["address"])[0]

    # When she supplies 2,500 more through the wallet
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="compound-v3",
        action="supply",
        **{"from": alice["address"]},
        asset="USDC",
        market="USDC",
        amount="2500",
    )
    sign_and_send_all(wallet, user_id, record, alice["private_key"])  # type: ignore[arg-type]

    # Then her Comet base balance is 2,500 USDC higher, give or take Comet's principal rounding
    # (down by a unit) and the interest accrued meanwhile
    after = _read(devnet, comet, abi.COMET_BALANCE_OF, alice["address"])[0]
    assert 2_500 * 10**6 - 1 <= after - before <= 2_500 * 10**6 + 1_000  # type: ignore[operator]


def test_compound_withdraw_max_empties_the_base_balance(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given alice's 5,000 USDC supplied to Comet
    alice = devnet.user("alice-healthy")
    user_id, _ = add_user(db, alice["address"])
    comet = devnet.deployment.contracts["comet_cUSDCv3"]

    # When she withdraws "max"
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="compound-v3",
        action="withdraw",
        **{"from": alice["address"]},
        asset="USDC",
        amount="max",
    )

    # Then no approval is needed, the call uses uint256.max, and her balance goes to zero
    assert [t.decoded.function for t in record.transactions] == ["withdraw(address,uint256)"]  # type: ignore[attr-defined]
    assert record.transactions[0].decoded.args["amount"] == str(2**256 - 1)  # type: ignore[attr-defined]
    sign_and_send_all(wallet, user_id, record, alice["private_key"])  # type: ignore[arg-type]
    assert _read(devnet, comet, abi.COMET_BALANCE_OF, alice["address"])[0] == 0


def test_eigenlayer_deposit_raises_shares(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given carol, with 10 stETH in her wallet and 32 already restaked
    carol = devnet.user("carol-staker")
    user_id, _ = add_user(db, carol["address"])
    strategy = devnet.deployment.contracts["eigen_strategy_stETH"]
    before = _read(devnet, strategy, abi.EIGEN_STRATEGY_SHARES, carol["address"])[0]

    # When she restakes 4 stETH into the stETH strategy
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="eigenlayer",
        action="deposit",
        **{"from": carol["address"]},
        asset="stETH",
        amount="4",
    )
    assert [t.decoded.function for t in record.transactions] == [  # type: ignore[attr-defined]
        "approve(address,uint256)",
        "depositIntoStrategy(address,address,uint256)",
    ]
    sign_and_send_all(wallet, user_id, record, carol["private_key"])  # type: ignore[arg-type]

    # Then her strategy shares rose
    after = _read(devnet, strategy, abi.EIGEN_STRATEGY_SHARES, carol["address"])[0]
    assert after > before  # type: ignore[operator]
    underlying = _read(devnet, strategy, abi.EIGEN_STRATEGY_USER_UNDERLYING, carol["address"])[0]
    assert underlying >= 36 * 10**18 - 1  # type: ignore[operator]


def test_a_batch_of_intents_costs_two_round_trips(wallet: WalletService, db: Database, devnet: Devnet) -> None:
    # Given 30 intents of three users across Aave, Compound and EigenLayer (one of which would revert)
    alice, bob, carol = (devnet.user(u) for u in ("alice-healthy", "bob-near-liquidation", "carol-staker"))
    user_id, _ = add_user(db, alice["address"], bob["address"], carol["address"])
    shapes: list[dict[str, object]] = [
        {"protocol": "aave-v3", "action": "supply", "from": alice["address"], "asset": "DAI", "amount": "1"},
        {"protocol": "aave-v3", "action": "repay", "from": alice["address"], "asset": "USDC", "amount": "1"},
        {"protocol": "compound-v3", "action": "supply", "from": carol["address"], "asset": "WETH", "amount": "0.1"},
        {"protocol": "eigenlayer", "action": "deposit", "from": carol["address"], "asset": "rETH", "amount": "0.1"},
        {"protocol": "aave-v3", "action": "withdraw", "from": alice["address"], "asset": "WETH", "amount": "0.01"},
    ]
    requests = [
        PrepareRequest(user_id=user_id, intent=Intent.model_validate({"chain_id": 1, **shapes[i % len(shapes)]}))
        for i in range(29)
    ]
    requests.append(
        PrepareRequest(
            user_id=user_id,
            intent=Intent.model_validate(
                {
                    "chain_id": 1,
                    "protocol": "aave-v3",
                    "action": "borrow",
                    "from": bob["address"],
                    "asset": "USDC",
                    "amount": "9000",
                }
            ),
        )
    )
    client = wallet.chains[1]
    before = client.round_trips

    # When they are prepared together
    outcomes = wallet.prepare_many(requests)

    # Then two JSON-RPC round trips were made, 29 are ready and the borrow alone was refused
    assert client.round_trips - before == 2
    assert sum(o.record is not None for o in outcomes) == 29
    assert outcomes[-1].error is not None
    assert outcomes[-1].error.extra["reason"].startswith("COLLATERAL_CANNOT_COVER_NEW_BORROW")
    # and each sender's nonces run on across its bundles without gaps
    alice_nonces = [
        int(t.nonce, 16)
        for o in outcomes
        if o.record is not None and o.record.intent.from_address == alice["address"]
        for t in o.record.transactions
    ]
    assert alice_nonces == list(range(alice_nonces[0], alice_nonces[0] + len(alice_nonces)))


class RecordingListener:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[tuple[int, str]] = []
        self.fail = fail

    def transaction_changed(self, user_id: int, record: PreparedTransactions) -> None:
        self.seen.append((user_id, record.status))
        if self.fail:
            raise ConnectionError("push endpoint gone")


@pytest.mark.parametrize("fail", [False, True])
def test_status_changes_reach_the_listener(wallet: WalletService, db: Database, devnet: Devnet, fail: bool) -> None:
    # Given a wallet whose status listener (live updates) records what it is told, or fails
    listener = RecordingListener(fail=fail)
    wallet.listener = listener
    carol = devnet.user("carol-staker")
    user_id, _ = add_user(db, carol["address"])
    record = _prepare(
        wallet,
        user_id,
        chain_id=1,
        protocol="compound-v3",
        action="withdraw",
        **{"from": carol["address"]},
        asset="WETH",
        amount="1",
    )

    # When it is signed, broadcast and polled
    sign_and_send_all(wallet, user_id, record, carol["private_key"])  # type: ignore[arg-type]
    wallet.poll(PollRequest())

    # Then the user's changes were announced in order; a failing listener changed nothing else
    assert listener.seen == [(user_id, "submitted"), (user_id, "confirmed")]
    assert wallet.get(user_id, record.id).status == "confirmed"  # type: ignore[attr-defined]
