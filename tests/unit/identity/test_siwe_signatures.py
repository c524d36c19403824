"""EOA sign-in signatures are accepted in their one canonical form only (EIP-2 low s, v 27/28)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from tidewatch.identity.signatures import SECP256K1_N, recover_signer, signature_matches

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
MESSAGE = "service.org wants you to sign in with your Ethereum account:\n..."


@pytest.fixture(scope="module")
def signed() -> tuple[str, bytes]:
    account = Account.from_key(KEY)
    signature = bytes(Account.sign_message(encode_defunct(text=MESSAGE), KEY).signature)
    return str(account.address), signature


def _parts(signature: bytes) -> tuple[int, int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]


def _join(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def test_the_canonical_signature_recovers_its_signer(signed: tuple[str, bytes]) -> None:
    address, signature = signed
    assert recover_signer(MESSAGE, signature) == address
    assert signature_matches(MESSAGE, signature, address, 1, None)


def test_the_high_s_twin_of_a_valid_signature_is_refused(signed: tuple[str, bytes]) -> None:
    # Given the same signature with s replaced by n - s and v flipped (mathematically valid too)
    address, signature = signed
    r, s, v = _parts(signature)
    twin = _join(r, SECP256K1_N - s, 55 - v)
    # Then it is refused (EIP-2: s must be in the lower half)
    assert recover_signer(MESSAGE, twin) is None
    assert not signature_matches(MESSAGE, twin, address, 1, None)


@pytest.mark.parametrize("v_offset", [-27, 8])  # v 0/1, and an EIP-155-style v (35+)
def test_non_canonical_v_is_refused(signed: tuple[str, bytes], v_offset: int) -> None:
    _, signature = signed
    r, s, v = _parts(signature)
    assert recover_signer(MESSAGE, _join(r, s, v + v_offset)) is None


def test_zero_and_out_of_range_r_s_are_refused(signed: tuple[str, bytes]) -> None:
    _, signature = signed
    r, s, v = _parts(signature)
    assert recover_signer(MESSAGE, _join(0, s, v)) is None
    assert recover_signer(MESSAGE, _join(r, 0, v)) is None
    assert recover_signer(MESSAGE, _join(SECP256K1_N, s, v)) is None


class _Wallet:
    """An EIP-1271 wallet that accepts one signature blob (any shape)."""

    def __init__(self, accepted: bytes) -> None:
        self.accepted = accepted

    def is_valid_signature(self, chain_id: int, address: str, message_hash: bytes, signature: bytes) -> bool:
        return signature == self.accepted


def test_contract_wallet_signatures_are_left_to_the_contract() -> None:
    # Given a smart-contract wallet whose signatures are not 65-byte EOA signatures
    blob = bytes(range(97))
    wallet = _Wallet(blob)
    address = "0x000000000000000000000000000000000000dEaD"
    # Then EIP-1271 decides, whatever the blob's shape
    assert signature_matches(MESSAGE, blob, address, 1, wallet)
    assert not signature_matches(MESSAGE, bytes(97), address, 1, wallet)
