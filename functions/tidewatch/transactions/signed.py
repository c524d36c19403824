"""Decode a signed raw transaction (EIP-2718 typed or legacy) and recover its sender.

eth_account is imported on first use: only broadcasts pay for it, and the api never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidewatch.transactions.errors import SignedTransactionMismatch


@dataclass(frozen=True)
class SignedTransaction:
    raw: bytes
    sender: str
    to: str | None
    data: bytes
    value: int
    chain_id: int | None
    nonce: int
    gas: int
    fields: dict[str, Any]


def decode_signed(raw_hex: str) -> SignedTransaction:
    from eth_account import Account
    from eth_account._utils.legacy_transactions import Transaction
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    raw = bytes.fromhex(raw_hex[2:])
    chain_id: int | None
    try:
        if raw and raw[0] <= 0x7F:  # EIP-2718 typed envelope
            fields = dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
            chain_id = int(fields["chainId"])
        else:
            fields = dict(Transaction.from_bytes(raw).as_dict())
            v = int(fields["v"])
            chain_id = (v - 35) // 2 if v >= 35 else None  # EIP-155
        sender = str(Account.recover_transaction(raw))
    except Exception as exc:  # malformed RLP, bad signature, unknown type
        raise SignedTransactionMismatch(
            f"not a valid signed transaction: {type(exc).__name__}", field="raw_transaction"
        ) from exc
    to = fields.get("to")
    return SignedTransaction(
        raw=raw,
        sender=sender,
        to="0x" + bytes(to).hex() if to else None,
        data=bytes(fields.get("data") or b""),
        value=int(fields.get("value") or 0),
        chain_id=chain_id,
        nonce=int(fields["nonce"]),
        gas=int(fields["gas"]),
        fields=fields,
    )
