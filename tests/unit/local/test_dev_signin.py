"""One-click devnet sign-in and the offline API docs of the local gateway (in-process ASGI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from tidewatch.identity.siwe import SiweMessage
from tidewatch_local.dev_signin import DevAccounts, DevSignInRefused
from tidewatch_local.gateway import LocalGateway
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.template import read_template

DOMAIN = "127.0.0.1:3000"
BOB = Account.from_key("0x" + "11" * 32)


def _registry(tmp_path: Path, name: str = "devnet") -> Path:
    path = tmp_path / "registry.json"
    users = [{"label": "bob-near-liquidation", "address": BOB.address, "private_key": "0x" + "11" * 32}]
    path.write_text(json.dumps({"name": name, "chains": [], "users": users}))
    return path


def _message(address: str = BOB.address, domain: str = DOMAIN) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    return SiweMessage(
        domain=domain,
        address=address,
        statement="Sign in to Tidewatch.",
        uri=f"http://{domain}",
        version="1",
        chain_id=1,
        nonce="abcdef123456",
        issued_at=now,
        expiration_time=now + timedelta(minutes=10),
    ).to_text()


@pytest.fixture
def gateway_client(tmp_path: Path) -> TestClient:
    template = read_template()
    accounts = DevAccounts.from_registry(_registry(tmp_path), site_domain=DOMAIN)
    gateway = LocalGateway(template, LocalInvoker(template), dev_accounts=accounts)
    return TestClient(gateway)


def test_seeded_accounts_sign_the_real_siwe_message(gateway_client: TestClient) -> None:
    # Given the local gateway with the devnet's seeded accounts
    # When the dashboard lists them
    listed = gateway_client.get("/local/dev-accounts")
    # Then it gets labels and addresses, never keys
    assert listed.status_code == 200
    assert listed.json() == {"accounts": [{"label": "bob-near-liquidation", "address": BOB.address}]}
    assert "private_key" not in listed.text
    # When it asks for bob's signature of a sign-in message for this site
    message = _message()
    signed = gateway_client.post("/local/dev-sign", json={"label": "bob-near-liquidation", "message": message})
    # Then the EIP-191 signature recovers to bob's address
    assert signed.status_code == 200, signed.text
    recovered = Account.recover_message(encode_defunct(text=message), signature=signed.json()["signature"])
    assert recovered == BOB.address


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"label": "mallory", "message": _message()}, "no seeded devnet account"),
        ({"label": "bob-near-liquidation", "message": "sign this transfer"}, "not an EIP-4361 message"),
        ({"label": "bob-near-liquidation", "message": _message(domain="evil.example")}, "not this site"),
        ({"label": "bob-near-liquidation", "message": _message(address=Account.create().address)}, "not bob"),
        ({"label": "bob-near-liquidation"}, "send {label, message}"),
    ],
)
def test_the_signer_refuses_anything_but_this_sites_sign_in(
    gateway_client: TestClient, body: dict[str, str], detail: str
) -> None:
    # When the signer is asked for something other than a sign-in for this site by that account
    response = gateway_client.post("/local/dev-sign", json=body)
    # Then it refuses with a problem naming why
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


def test_no_dev_sign_in_unless_the_registry_is_the_devnets(tmp_path: Path) -> None:
    # Given a registry of real chains (a local run pointed at mainnet)
    assert DevAccounts.from_registry(_registry(tmp_path, name="mainnet"), site_domain=DOMAIN) is None
    assert DevAccounts.from_registry(tmp_path / "missing.json", site_domain=DOMAIN) is None
    # Then the gateway without accounts answers the routes with Not Found
    template = read_template()
    client = TestClient(LocalGateway(template, LocalInvoker(template)))
    assert client.get("/local/dev-accounts").status_code == 404
    assert client.post("/local/dev-sign", json={}).status_code == 404


def test_dev_accounts_refuse_a_label_they_do_not_hold(tmp_path: Path) -> None:
    accounts = DevAccounts.from_registry(_registry(tmp_path), site_domain=DOMAIN)
    assert accounts is not None
    with pytest.raises(DevSignInRefused):
        accounts.sign("alice", _message())


def test_api_docs_work_offline(gateway_client: TestClient) -> None:
    # When the docs page is opened through the local gateway
    page = gateway_client.get("/api/docs")
    # Then it loads Swagger UI from this server, not a CDN
    assert page.status_code == 200
    assert "/api/docs/assets/swagger-ui-bundle.js" in page.text
    assert "/api/openapi.json" in page.text
    assert "cdn." not in page.text
    script = gateway_client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert b"SwaggerUIBundle" in script.content[:2000]
    assert gateway_client.get("/api/docs/assets/swagger-ui.css").status_code == 200
    assert gateway_client.get("/api/docs/assets/../../etc/passwd").status_code == 404
