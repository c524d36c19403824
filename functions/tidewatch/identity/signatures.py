"""Who signed a sign-in message: EOA recovery (EIP-191 personal_sign) and EIP-1271 contracts.

eth_account is imported on first use, inside the verify path, so the API's cold start does not pay
for it. Smart-contract wallets are asked on chain through the injected `ContractSignatureChecker`.
"""

from __future__ import annotations

from typing import Protocol

EIP1271_MAGIC_VALUE = bytes.fromhex("1626ba7e")


class ContractSignatureChecker(Protocol):
    """EIP-1271: `isValidSignature(hash, signature)` on `address` returns the magic value 0x1626ba7e."""

    def is_valid_signature(self, chain_id: int, address: str, message_hash: bytes, signature: bytes) -> bool: ...


def personal_sign_hash(message: str) -> bytes:
    """The EIP-191 (version 0x45) hash a wallet signs for `personal_sign(message)`."""
    from eth_account.messages import _hash_eip191_message, encode_defunct

    return bytes(_hash_eip191_message(encode_defunct(text=message)))


def recover_signer(message: str, signature: bytes) -> str | None:
    """The checksummed address that produced `signature` over `message`, or None if unrecoverable."""
    if len(signature) != 65:
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
    """True if `address` signed `message`: as an EOA, or (if a checker is given) as an EIP-1271 wallet."""
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
