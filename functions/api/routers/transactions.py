"""Transactions: prepare unsigned transactions for an intent, relay the signed ones, track them.

Tidewatch never holds keys: `POST /transactions/prepare` returns an ordered list of unsigned
EIP-1559 transactions (an ERC-20 approval first when the allowance is short), each simulated at
the pending state — a transaction that would revert is refused with its decoded reason. The
dashboard's wallet signs them; `POST /transactions/{id}/broadcast` relays each signed one (it must
match what was prepared), and receipt polling moves the record to confirmed / failed / replaced.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, DatabaseDep, WalletClientDep, limit_by_ip
from tidewatch.bounds import BIGINT_MAX
from tidewatch.errors import InvalidInput
from tidewatch.transactions.errors import TransactionNotFound
from tidewatch.transactions.models import (
    BroadcastRequest,
    BroadcastResult,
    HexData,
    Intent,
    PreparedTransactions,
    PrepareRequest,
    Status,
    TransactionPage,
)
from tidewatch.transactions.repository import TransactionStore

router = APIRouter(
    prefix="/transactions",
    tags=["transactions"],
    dependencies=[Depends(limit_by_ip)],
    responses={
        401: {"description": "Missing or invalid access token (problem+json)."},
        429: {"description": "Rate limited (problem+json, Retry-After)."},
    },
)

TransactionId = Annotated[UUID, Path(description="Id returned by POST /transactions/prepare.")]


class PrepareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent: Intent
    portfolio_id: int | None = Field(
        default=None, gt=0, le=BIGINT_MAX, description="Restrict `from` to this portfolio."
    )


class BroadcastBody(BaseModel):
    """Exactly one of: the signed transaction to relay, or the hash of one your wallet sent itself."""

    model_config = ConfigDict(extra="forbid")

    # The bound keeps the whole JSON body inside the API's body limit (64 KiB): 30 KiB of transaction.
    raw_transaction: HexData | None = Field(
        default=None, min_length=4, max_length=2 + 2 * 30 * 1024, description="Signed, 0x-hex: Tidewatch relays it."
    )
    tx_hash: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="Hash of a transaction your wallet already sent (e.g. MetaMask): Tidewatch checks and tracks it.",
    )


_PREPARE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`from` is not one of your portfolio addresses, or a target outside the registry."},
    422: {"description": "Would revert (with the decoded reason), amount above balance, chain mismatch."},
    503: {"description": "The chain RPC or the wallet function is unavailable."},
}


@router.post("/prepare", status_code=201, responses=_PREPARE_PROBLEMS)
def prepare(
    body: PrepareBody,
    user: CurrentUser,
    wallet: WalletClientDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(pattern=r"^[\x21-\x7e]{1,128}$")] = None,
) -> PreparedTransactions:
    """Ordered unsigned EIP-1559 transactions for the intent, simulated; sign and send them in order."""
    prepared = wallet.prepare(
        PrepareRequest(
            user_id=user.user_id,
            intent=body.intent,
            portfolio_id=body.portfolio_id,
            idempotency_key=f"api:{idempotency_key}" if idempotency_key else None,
        )
    )
    response.headers["Location"] = f"/transactions/{prepared.id}"
    return prepared


@router.post(
    "/{transaction_id}/broadcast",
    responses={
        404: {"description": "No such transaction of yours."},
        409: {"description": "Already final, or an earlier transaction of the list is not sent yet."},
        422: {"description": "The signed transaction is not the prepared one (only gas/fees may differ)."},
    },
)
def broadcast(
    transaction_id: TransactionId, body: BroadcastBody, user: CurrentUser, wallet: WalletClientDep
) -> BroadcastResult:
    """Relay one signed transaction of the prepared list (`eth_sendRawTransaction`), or track one the
    wallet sent itself (`tx_hash`); either must match what was prepared (only gas and fees may differ)."""
    if (body.raw_transaction is None) == (body.tx_hash is None):
        raise InvalidInput(
            "give exactly one of raw_transaction or tx_hash",
            errors=[{"field": "raw_transaction", "message": "exactly one of raw_transaction or tx_hash", "in": "body"}],
        )
    return wallet.broadcast(
        BroadcastRequest(
            user_id=user.user_id,
            transaction_id=transaction_id,
            raw_transaction=body.raw_transaction,
            tx_hash=body.tx_hash,
        )
    )


@router.get("")
def list_transactions(
    user: CurrentUser,
    db: DatabaseDep,
    status: Annotated[Status | None, Query(description="Only this status.")] = None,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TransactionPage:
    """Your prepared and sent transactions, newest first."""
    items, next_cursor = TransactionStore(db).list_for_user(user.user_id, cursor=cursor, limit=limit, status=status)
    return TransactionPage(items=items, next_cursor=next_cursor)


@router.get("/{transaction_id}", responses={404: {"description": "No such transaction of yours."}})
def get_transaction(transaction_id: TransactionId, user: CurrentUser, db: DatabaseDep) -> PreparedTransactions:
    record = TransactionStore(db).get(user.user_id, transaction_id)
    if record is None:
        raise TransactionNotFound(f"no transaction {transaction_id} of yours")
    return record
