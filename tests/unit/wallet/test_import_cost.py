"""The api reaches the wallet without paying for web3 or the chain libraries at import (cold start)."""

from __future__ import annotations

from tests.import_probe import modules_after

HEAVY = ("web3", "eth_abi", "eth_account", "eth_utils", "boto3")


def _modules_after(statement: str) -> set[str]:
    return {m.split(".")[0] for m in modules_after(statement, paths=("functions", "local"))}


def test_transactions_router_and_wallet_client_import_no_chain_libraries() -> None:
    loaded = _modules_after("import api.routers.transactions, api.deps.wallet, tidewatch.transactions.client")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_wallet_function_itself_does_not_need_web3() -> None:
    loaded = _modules_after("import wallet.handler")
    assert "web3" not in loaded
