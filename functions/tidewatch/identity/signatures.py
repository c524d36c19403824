"""Who signed a sign-in message: EOA recovery (EIP-191 personal_sign) and EIP-1271 contracts.

eth_account is imported on first use, inside the verify path, so the API's cold start does not pay
for it. Smart-contract wallets are asked on chain through the injected `ContractSignatureChecker`.
"""

from __future__ import annotations

from typing import Protocol

EIP1271_MAGIC_VALUE = bytes.fromhex("1626ba7e")
# secp256k1's group order; EIP-2 makes s > n/2 invalid (each signature has exactly one form).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class ContractSignatureChecker(Protocol):
    """EIP-1271: `isValidSignature(hash, signature)` on `address` returns the magic value 0x1626ba7e."""

    def is_valid_signature(self, chain_id: int, address: str, message_hash: bytes, signature: bytes) -> bool: ...


def personal_sign_hash(message: str) -> bytes:
    """The EIP-191 (version 0x45) hash a wallet signs for `personal_sign(message)`."""
    from eth_account.messages import _hash_eip191_message, encode_defunct

    return bytes(_hash_eip191_message(encode_defunct(text=message)))


def is_canonical(signature: bytes) -> bool:
    """A 65-byte r || s || v signature in its one canonical form: 0 < r < n, 0 < s <= n/2 (EIP-2),
    v 27 or 28 (what personal_sign returns; 0/1 and EIP-155 values are other spellings)."""
    if len(signature) != 65:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    return 0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2 and signature[64] in (27, 28)


def recover_signer(message: str, signature: bytes) -> str | None:
    """The checksummed address that produced `signature` over `message`, or None if the signature
    is not a canonical EOA signature or unrecoverable."""
    if not is_canonical(signature):
        return None
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except Exception:  # malformed r/s/v: not a valid EOA signature
        return None


def signature_matches(
    message: str,
    signature: bytes,
    address: str,
    chain_id: int,
    contracts: ContractSignatureChecker | None,
) -> bool:
    """True if `address` signed `message`: as an EOA (canonical signatures only), or (if a checker
    is given) as an EIP-1271 wallet, whose contract alone decides what its signatures look like."""
    if recover_signer(message, signature) == address:
        return True
    if contracts is None:
        return False
    try:
        return contracts.is_valid_signature(chain_id, address, personal_sign_hash(message), signature)
    except Exception:
        # A failed on-chain call proves nothing; sign-in is refused rather than guessed.
        from tidewatch.observability import logger

        logger.warning("EIP-1271 check failed", extra={"address": address, "chain_id": chain_id})
        return False
