"""A rule's prepare-transaction action, end to end on the devnet.

The rules tick sees the borrower's health factor below its threshold, fires, and its action asks
the wallet (through the same client the rules function uses) to prepare a repay back to HF 1.2;
the prepared transactions, signed with the borrower's key and broadcast, restore exactly that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tidewatch.db import Database
from tidewatch.invoke import InProcessInvoker
from tidewatch.rules.actions import ActionRunner, PreparedTransaction
from tidewatch.rules.model import RuleSpec
from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource
from tidewatch.rules.tick import TickSources, run_tick
from tidewatch.transactions.client import RulesTransactionPreparer, WalletFunctionClient
from tidewatch.transactions.repository import TransactionStore
from tidewatch.transactions.service import WalletService
from wallet.deps import WalletDeps
from wallet.handler import handle

from .conftest import Devnet, add_user, sign_and_send_all
from .test_rule_intents import _health, add_markets

pytestmark = pytest.mark.integration


def _rule(db: Database, user_id: int, spec: dict[str, Any]) -> int:
    rule = RuleSpec.model_validate(spec)
    with db.connection() as conn:
        row = conn.execute(
            "INSERT INTO rules (user_id, portfolio_id, name, definition, cadence_seconds, cooldown_seconds) "
            "VALUES (%s, %s, %s, %s::jsonb, %s, %s) RETURNING id",
            (user_id, rule.portfolio_id, rule.name, rule.definition().model_dump_json(), 60, 3600),
        ).fetchone()
    assert row is not None
    return int(row["id"])


def test_a_firing_rule_prepares_a_repay_that_succeeds_when_signed(
    wallet: WalletService, db: Database, devnet: Devnet
) -> None:
    # Given bob near liquidation (HF 1.0375) in a portfolio whose latest snapshot says so
    bob = devnet.user("bob-near-liquidation")
    user_id, portfolio_id = add_user(db, bob["address"])
    markets = add_markets(db, devnet)
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO position_snapshots (portfolio_id, net_worth_usd, min_health_factor, payload) "
            "VALUES (%s, 3000, 1.0375, '{}'::jsonb)",
            (portfolio_id,),
        )
    # And a rule: below HF 1.1, prepare a repay on Aave USDC back to HF 1.2
    rule_id = _rule(
        db,
        user_id,
        {
            "name": "Keep bob safe",
            "portfolio_id": portfolio_id,
            "trigger": {"type": "health_factor_below", "threshold": 1.1},
            "actions": [
                {
                    "type": "prepare_transaction",
                    "intent": {
                        "kind": "repay_to_health_factor",
                        "market_id": markets["aave-usdc"],
                        "target_health_factor": 1.2,
                    },
                }
            ],
        },
    )
    # The wallet function's handler with this test's wallet service, reached through the invoker
    invoker = InProcessInvoker({"wallet": lambda event, context: handle(event, context, WalletDeps(db, wallet))})
    preparer = RulesTransactionPreparer(WalletFunctionClient(invoker), PreparedTransaction)
    runner = ActionRunner(db, pusher=None, preparer=preparer, webhooks=None, backoff_seconds=0.0)
    # When the rules tick runs
    report = run_tick(
        at=datetime.now(UTC),
        database=db,
        sources=TickSources(PostgresMarketSource(db), SnapshotPositionSource(db), None),
        runner=runner,
    )
    # Then the rule fired and its action prepared transactions for bob, recorded for the user
    assert report.fired == 1
    with db.connection() as conn:
        execution = conn.execute("SELECT actions FROM rule_executions WHERE rule_id = %s", (rule_id,)).fetchone()
        prepared = conn.execute(
            "SELECT id FROM transactions WHERE user_id = %s AND rule_id = %s", (user_id, rule_id)
        ).fetchall()
    assert execution is not None
    assert len(prepared) == 1, execution["actions"]
    record = TransactionStore(db).get(user_id, prepared[0]["id"])
    assert record.status == "prepared"
    # And signed with bob's key and broadcast in order, they restore HF 1.2 on chain
    sign_and_send_all(wallet, user_id, record, bob["private_key"])
    assert Decimal("1.2") <= _health(devnet, bob["address"]) < Decimal("1.2005")
