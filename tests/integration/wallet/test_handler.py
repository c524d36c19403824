"""The wallet Lambda handler configured from the environment (RPC URLs + devnet registry), as the
local run and AWS configure it: prepare, broadcast and the scheduled receipt poll."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tidewatch import runtime
from tidewatch.db import Database
from tidewatch.transactions.models import UnsignedTransaction
from tidewatch_local.context import LocalLambdaContext
from wallet import deps
from wallet.handler import lambda_handler

from .conftest import Devnet, add_user, sign, wait_for_receipt

pytestmark = pytest.mark.integration


@pytest.fixture
def configured(devnet: Devnet, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps(devnet.deployment.registry))
    monkeypatch.setenv("TIDEWATCH_RPC_URLS", json.dumps({str(devnet.chain_id): [devnet.node.url]}))
    monkeypatch.setenv("TIDEWATCH_REGISTRY", str(registry))
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", database_url)
    runtime.reset()
    deps.reset()
    yield
    runtime.reset()
    deps.reset()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler(event, LocalLambdaContext(function_name="WalletFunction"))  # type: ignore[arg-type]


@pytest.mark.usefixtures("configured")
def test_handler_prepares_broadcasts_and_polls(db: Database, devnet: Devnet) -> None:
    # Given carol in a portfolio of user 1
    carol = devnet.user("carol-staker")
    user_id, _ = add_user(db, carol["address"])

    # When the wallet function is invoked with a prepare payload (as the api/rules send it)
    prepared = invoke(
        {
            "action": "prepare",
            "user_id": user_id,
            "intent": {
                "chain_id": 1,
                "protocol": "eigenlayer",
                "action": "deposit",
                "from": carol["address"],
                "asset": "cbETH",
                "amount": "1",
            },
        }
    )

    # Then the envelope carries eth_sendTransaction-shaped transactions
    assert prepared["ok"] is True, prepared
    record = prepared["result"]
    assert [t["decoded"]["function"].split("(")[0] for t in record["transactions"]] == [
        "approve",
        "depositIntoStrategy",
    ]

    # When each is signed and broadcast through the function, and the schedule polls receipts
    for tx in record["transactions"]:
        raw = sign(UnsignedTransaction.model_validate(tx), carol["private_key"])
        sent = invoke(
            {"action": "broadcast", "user_id": user_id, "transaction_id": record["id"], "raw_transaction": raw}
        )
        assert sent["ok"] is True, sent
        wait_for_receipt(devnet.client(), sent["result"]["hash"])
    polled = invoke(json.loads((Path(__file__).resolve().parents[3] / "events/wallet/scheduled-poll.json").read_text()))

    # Then both were confirmed
    assert polled == {
        "ok": True,
        "result": {"checked": 2, "confirmed": 2, "failed": 0, "replaced": 0, "still_pending": 0, "round_trips": 1},
    }


@pytest.mark.usefixtures("configured")
def test_handler_refusals_are_error_envelopes(db: Database, devnet: Devnet) -> None:
    bob = devnet.user("bob-near-liquidation")
    user_id, _ = add_user(db, bob["address"])
    refused = invoke(
        {
            "action": "prepare",
            "user_id": user_id,
            "intent": {
                "chain_id": 1,
                "protocol": "aave-v3",
                "action": "borrow",
                "from": bob["address"],
                "asset": "USDC",
                "amount": "5000",
            },
        }
    )
    assert refused["ok"] is False
    assert refused["error"]["status"] == 422
    assert refused["error"]["reason"] == "COLLATERAL_CANNOT_COVER_NEW_BORROW (Aave error 36)"
    invalid = invoke({"action": "prepare", "user_id": user_id, "intent": {"chain_id": 1}})
    assert invalid["ok"] is False
    assert invalid["error"]["status"] == 422


@pytest.mark.usefixtures("configured")
def test_the_rules_functions_payload_prepares_a_repay(db: Database, devnet: Devnet) -> None:
    # Given bob near liquidation in a portfolio, the Aave USDC market row, and a rule of his
    from .test_rule_intents import add_markets

    bob = devnet.user("bob-near-liquidation")
    user_id, portfolio_id = add_user(db, bob["address"])
    market_id = add_markets(db, devnet)["aave-usdc"]
    with db.connection() as conn:
        rule = conn.execute(
            "INSERT INTO rules (user_id, portfolio_id, name, definition) VALUES (%s, %s, 'protect', '{}') RETURNING id",
            (user_id, portfolio_id),
        ).fetchone()
    assert rule is not None

    # When the rules function invokes the wallet with its PrepareRequest (no "action" key)
    payload = {
        "user_id": user_id,
        "portfolio_id": portfolio_id,
        "rule_id": rule["id"],
        "intent": {"kind": "repay_to_health_factor", "market_id": market_id, "target_health_factor": 1.5},
        "idempotency_key": f"rule:{rule['id']}:2026-11-24T14:00",
    }
    first, again = invoke(payload), invoke(payload)

    # Then a repay is prepared once, with the fields the rules function reads
    assert first["ok"] is True, first
    assert first["result"]["transaction_id"] == first["result"]["id"] == again["result"]["id"]
    assert first["result"]["summary"].startswith("Approve")
    assert "Repay" in first["result"]["summary"]
