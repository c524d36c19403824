"""One-click sign-in as a seeded devnet account, for the local run only.

The devnet's seeded users (`bob-near-liquidation`, …) have their keys in the devnet registry. The
dashboard lists them (`GET /local/dev-accounts`: labels and addresses, never keys), builds the
real EIP-4361 message for the chosen one with a nonce from the API, and asks the local side to
sign it (`POST /local/dev-sign`); it then calls `POST /api/auth/verify` like any wallet would. The
API itself has no such route: a deployed stack cannot offer it.

Refused unless the registry is the devnet's (its `name` is "devnet"): a local run pointed at real
chains (`TIDEWATCH_RPC_URLS` + a mainnet registry) never signs anything. The signer is strict: it
signs only a well-formed EIP-4361 message for this site's domain, for the chosen account.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct

from tidewatch.identity.errors import MalformedSiweMessage
from tidewatch.identity.siwe import parse_message

DEVNET_REGISTRY_NAME = "devnet"


class DevSignInRefused(ValueError):
    """The request names no seeded account or a message this signer will not sign."""


@dataclass(frozen=True)
class DevAccount:
    label: str
    address: str
    private_key: str


class DevAccounts:
    def __init__(self, accounts: list[DevAccount], *, site_domain: str) -> None:
        self._accounts = {a.label: a for a in accounts}
        self.site_domain = site_domain

    @classmethod
    def from_registry(cls, registry_path: Path, *, site_domain: str) -> DevAccounts | None:
        """The seeded accounts of a devnet registry; None for any other registry (or none at all)."""
        try:
            registry = json.loads(Path(registry_path).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(registry, dict) or registry.get("name") != DEVNET_REGISTRY_NAME:
            return None
        accounts = [
            DevAccount(str(u["label"]), str(u["address"]), str(u["private_key"]))
            for u in registry.get("users") or []
            if isinstance(u, dict) and {"label", "address", "private_key"} <= u.keys()
        ]
        return cls(accounts, site_domain=site_domain) if accounts else None

    @classmethod
    def from_environment(cls) -> DevAccounts | None:
        """From `TIDEWATCH_REGISTRY` and `TIDEWATCH_SITE_DOMAIN`, as `tidewatch dev` sets them."""
        registry = os.environ.get("TIDEWATCH_REGISTRY")
        domain = os.environ.get("TIDEWATCH_SITE_DOMAIN")
        if not registry or not domain:
            return None
        return cls.from_registry(Path(registry), site_domain=domain)

    def public(self) -> list[dict[str, str]]:
        return [{"label": a.label, "address": a.address} for a in self._accounts.values()]

    def sign(self, label: str, message: str) -> str:
        """personal_sign (EIP-191) of an EIP-4361 message for this site by the labelled account."""
        account = self._accounts.get(label)
        if account is None:
            raise DevSignInRefused(f"no seeded devnet account {label!r}")
        try:
            parsed = parse_message(message)
        except MalformedSiweMessage as exc:
            raise DevSignInRefused(f"not an EIP-4361 message: {exc}") from exc
        if parsed.domain != self.site_domain:
            raise DevSignInRefused(f"the message is for {parsed.domain!r}, not this site ({self.site_domain!r})")
        if parsed.address.lower() != account.address.lower():
            raise DevSignInRefused(f"the message names {parsed.address}, not {label} ({account.address})")
        signed = Account.sign_message(encode_defunct(text=message), private_key=account.private_key)
        return "0x" + bytes(signed.signature).hex()
