"""A seeded anvil devnet (once per session), reverted to its seeded snapshot before each test,
and a `WalletService` on it with the real test Postgres."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from tidewatch.chain.rpc import ChainClient
from tidewatch.db import Database
from tidewatch.protocols.registry import Registry
from tidewatch.transactions.models import BroadcastRequest, PreparedTransactions
from tidewatch.transactions.service import WalletService
from tidewatch.transactions.settings import WalletSettings
from tidewatch_local.devnet import Deployment, deploy_and_seed, start_anvil
from tidewatch_local.devnet.anvil import AnvilNode


@dataclass
class Devnet:
    node: AnvilNode
    deployment: Deployment
    registry: Registry
    snapshot: str = ""

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    def client(self) -> ChainClient:
        return ChainClient(self.chain_id, [self.node.url])

    def user(self, label: str) -> dict[str, str]:
        return self.deployment.users[label]

    def token(self, symbol: str) -> str:
        return self.deployment.tokens[symbol]


@pytest.fixture(scope="session")
def _devnet() -> Iterator[Devnet]:
    node = start_anvil()
    try:
        deployment = deploy_and_seed(node.url)
        registry = Registry.model_validate(deployment.registry)
        devnet = Devnet(node, deployment, registry)
        yield devnet
    finally:
        node.stop()


@pytest.fixture
def devnet(_devnet: Devnet) -> Iterator[Devnet]:
    """The seeded devnet; every test starts from the seeded state (anvil evm_snapshot/evm_revert)."""
    client = _devnet.client()
    snapshot = client.request("evm_snapshot", [])
    yield _devnet
    client.request("evm_revert", [snapshot])


@pytest.fixture
def wallet(db: Database, devnet: Devnet) -> WalletService:
    return WalletService(
        database=db, chains={devnet.chain_id: devnet.client()}, registry=devnet.registry, settings=WalletSettings()
    )


def add_user(db: Database, *addresses: str) -> tuple[int, int]:
    """A user with one portfolio holding `addresses`; returns (user id, portfolio id)."""
    with db.transaction() as conn:
        user = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", (addresses[0],)).fetchone()
        assert user is not None
        portfolio = conn.execute(
            "INSERT INTO portfolios (user_id, name) VALUES (%s, 'main') RETURNING id", (user["id"],)
        ).fetchone()
        assert portfolio is not None
        for address in addresses:
            conn.execute(
                "INSERT INTO portfolio_addresses (portfolio_id, address) VALUES (%s, %s)", (portfolio["id"], address)
            )
    return int(user["id"]), int(portfolio["id"])


def sign(tx: Any, private_key: str) -> str:
    """Sign a prepared transaction as the user's wallet would (eth_account, the test key)."""
    fields = tx.model_dump(by_alias=True)
    signable = {
        "type": 2,
        "chainId": int(fields["chainId"], 16),
        "nonce": int(fields["nonce"], 16),
        "to": fields["to"],
        "data": fields["data"],
        "value": int(fields["value"], 16),
        "gas": int(fields["gas"], 16),
        "maxFeePerGas": int(fields["maxFeePerGas"], 16),
        "maxPriorityFeePerGas": int(fields["maxPriorityFeePerGas"], 16),
    }
    return "0x" + bytes(Account.sign_transaction(signable, private_key).raw_transaction).hex()


def wait_for_receipt(client: ChainClient, tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
    """anvil answers eth_sendRawTransaction before its automined block is indexed: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = client.request("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            return dict(receipt)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash}")
        time.sleep(0.02)


def sign_and_send_all(wallet: WalletService, user_id: int, record: PreparedTransactions, private_key: str) -> None:
    """Sign and broadcast each prepared transaction in order, each mined before the next is sent."""
    client = wallet.chains[record.chain_id]
    for tx in record.transactions:
        sent = wallet.broadcast(
            BroadcastRequest(user_id=user_id, transaction_id=record.id, raw_transaction=sign(tx, private_key))
        )
        wait_for_receipt(client, sent.hash)
