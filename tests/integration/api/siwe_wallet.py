"""A real secp256k1 wallet (eth_account) that writes and signs EIP-4361 messages for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from tidewatch.identity.siwe import SiweMessage


class Wallet:
    def __init__(self, seed: int = 1) -> None:
        self.account = Account.from_key(seed.to_bytes(32, "big"))

    @property
    def address(self) -> str:
        return str(self.account.address)

    def message(self, nonce: str, *, now: float, **overrides: Any) -> str:
        issued = datetime.fromtimestamp(now, UTC)
        values: dict[str, Any] = {
            "domain": "app.tidewatch.test",
            "address": self.address,
            "statement": "Sign in to Tidewatch.",
            "uri": "https://app.tidewatch.test",
            "version": "1",
            "chain_id": 1,
            "nonce": nonce,
            "issued_at": issued,
            "expiration_time": issued + timedelta(minutes=5),
        }
        values.update(overrides)
        return SiweMessage(**values).to_text()

    def sign(self, text: str) -> str:
        signed = self.account.sign_message(encode_defunct(text=text))
        return "0x" + bytes(signed.signature).hex()

    def sign_in(self, client: TestClient, *, now: float, **overrides: Any) -> dict[str, Any]:
        nonce = client.get("/auth/nonce").json()["nonce"]
        text = self.message(nonce, now=now, **overrides)
        response = client.post("/auth/verify", json={"message": text, "signature": self.sign(text)})
        assert response.status_code == 200, response.text
        return response.json()
