"""The wallet's use cases: prepare (guardrails → build → simulate → store), broadcast, poll receipts.

Collaborators are arguments: the database, one `ChainClient` per configured chain and the market
registry. Tidewatch never holds a key: it only relays transactions the user signed, and only
those that match what it prepared for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from eth_utils import keccak, to_checksum_address

from tidewatch.chain.rpc import ChainClient, RpcError
from tidewatch.db import Database
from tidewatch.errors import DomainError
from tidewatch.intents import RepayToHealthFactor
from tidewatch.observability import logger
from tidewatch.protocols.registry import Registry
from tidewatch.transactions import preparer, strategies
from tidewatch.transactions.errors import (
    ChainMismatch,
    NotYourAddress,
    SignedTransactionMismatch,
    TransactionNotFound,
    TransactionStateConflict,
    UnsupportedIntent,
)
from tidewatch.transactions.models import (
    BroadcastRequest,
    BroadcastResult,
    Intent,
    MarketRow,
    PollRequest,
    PollResult,
    PreparedTransactions,
    PrepareRequest,
    TransactionPage,
    UnsignedTransaction,
)
from tidewatch.transactions.repository import TransactionStore
from tidewatch.transactions.rpc_batch import batch_outcomes
from tidewatch.transactions.settings import WalletSettings
from tidewatch.transactions.signed import SignedTransaction, decode_signed


class StatusListener(Protocol):
    def transaction_changed(self, user_id: int, record: PreparedTransactions) -> None: ...


@dataclass
class WalletService:
    database: Database
    chains: Mapping[int, ChainClient]
    registry: Registry
    settings: WalletSettings = field(default_factory=WalletSettings)
    # Told about every status change (live updates push it to the user's dashboard). Its failure
    # is logged, never raised: the database is the source of truth, a push is best effort.
    listener: StatusListener | None = None

    def _notify(self, user_id: int, record: PreparedTransactions) -> None:
        if self.listener is None:
            return
        try:
            self.listener.transaction_changed(user_id, record)
        except Exception:
            logger.exception("status listener failed", extra={"transaction_id": str(record.id)})

    @property
    def store(self) -> TransactionStore:
        return TransactionStore(self.database)

    # Prepare -------------------------------------------------------------------------------------

    def _client(self, chain_id: int) -> ChainClient:
        client = self.chains.get(chain_id)
        if client is None or chain_id not in self.registry.chain_ids:
            configured = sorted(set(self.chains) & set(self.registry.chain_ids))
            raise ChainMismatch(
                f"chain {chain_id} is not configured on this deployment (configured: {configured})",
                field="intent.chain_id",
            )
        return client

    def _check_sender(self, user_id: int, portfolio_id: int | None, intent: Intent) -> None:
        owned = self.store.portfolio_addresses(user_id, portfolio_id)
        if intent.from_address.lower() not in owned:
            scope = f"portfolio {portfolio_id}" if portfolio_id else "your portfolios"
            raise NotYourAddress(f"{intent.from_address} is not an address of {scope}", field="intent.from")

    def prepare(self, request: PrepareRequest) -> PreparedTransactions:
        """Prepare one intent; a repeated idempotency key returns the first result unchanged."""
        if request.idempotency_key:
            existing = self.store.by_idempotency_key(request.user_id, request.idempotency_key)
            if existing is not None:
                return existing
        return self.prepare_many([request])[0].unwrap_record()

    def prepare_many(self, requests: Sequence[PrepareRequest]) -> list[PrepareOutcome]:
        """Prepare many intents: two JSON-RPC round trips per chain whatever their number (plus one
        per rule intent, to pick the acting address and amount)."""
        outcomes = [PrepareOutcome(r) for r in requests]
        by_chain: dict[int, list[tuple[int, list[Intent]]]] = {}
        for i, outcome in enumerate(outcomes):
            request = outcome.request
            try:
                steps = self._steps(request)
                self._client(steps[0].chain_id)
            except DomainError as exc:
                outcome.error = exc
                continue
            by_chain.setdefault(steps[0].chain_id, []).append((i, steps))
        for chain_id, entries in by_chain.items():
            prepared = preparer.prepare_bundles(
                self.chains[chain_id], self.registry.chain(chain_id), [steps for _, steps in entries], self.settings
            )
            for (i, _), result in zip(entries, prepared, strict=True):
                if result.error is not None:
                    outcomes[i].error = result.error
                    continue
                assert result.fees is not None
                request = outcomes[i].request
                outcomes[i].record = self.store.insert(
                    user_id=request.user_id,
                    portfolio_id=request.portfolio_id,
                    rule_id=request.rule_id,
                    intent=request.intent,
                    chain_id=chain_id,
                    transactions=result.transactions,
                    fees=result.fees,
                    summary=result.summary,
                    idempotency_key=request.idempotency_key,
                )
        return outcomes

    def _steps(self, request: PrepareRequest) -> list[Intent]:
        """The concrete steps of a request, after the sender guardrail."""
        intent = request.intent
        if isinstance(intent, Intent):
            self._check_sender(request.user_id, request.portfolio_id, intent)
            return [intent]
        if request.portfolio_id is None:
            raise UnsupportedIntent(f"{intent.kind} needs portfolio_id", field="portfolio_id")
        addresses = sorted(self.store.portfolio_addresses(request.user_id, request.portfolio_id))
        if not addresses:
            raise NotYourAddress(f"portfolio {request.portfolio_id} of yours has no addresses", field="portfolio_id")
        checksummed = [to_checksum_address(a) for a in addresses]
        if isinstance(intent, RepayToHealthFactor):
            row = self._market(intent.market_id, "intent.market_id")
            client = self._client(row.chain_id)
            return strategies.repay_steps(intent, row, checksummed, self.registry.chain(row.chain_id), client)
        source = self._market(intent.from_market_id, "intent.from_market_id")
        target = self._market(intent.to_market_id, "intent.to_market_id")
        client = self._client(source.chain_id)
        return strategies.move_steps(intent, source, target, checksummed, self.registry.chain(source.chain_id), client)

    def _market(self, market_id: int, field_name: str) -> MarketRow:
        row = self.store.market(market_id)
        if row is None:
            raise UnsupportedIntent(f"no market {market_id}", field=field_name)
        return row

    # Read ----------------------------------------------------------------------------------------

    def get(self, user_id: int, record_id: UUID) -> PreparedTransactions:
        record = self.store.get(user_id, record_id)
        if record is None:
            raise TransactionNotFound(f"no transaction {record_id} of yours")
        return record

    def list(self, user_id: int, *, cursor: str | None, limit: int, status: str | None = None) -> TransactionPage:
        items, next_cursor = self.store.list_for_user(user_id, cursor=cursor, limit=limit, status=status)
        return TransactionPage(items=items, next_cursor=next_cursor)

    # Broadcast -----------------------------------------------------------------------------------

    def broadcast(self, request: BroadcastRequest) -> BroadcastResult:
        """Relay a signed transaction that matches one of the prepared ones, in order."""
        record = self.get(request.user_id, request.transaction_id)
        if record.status in ("confirmed", "failed", "replaced"):
            raise TransactionStateConflict(f"transaction {record.id} is already {record.status}")
        if request.tx_hash is not None:
            return self._track_sent(request, record)
        assert request.raw_transaction is not None  # one of the two, by the request's validator
        signed = decode_signed(request.raw_transaction)
        index = _match(record.transactions, signed)
        earlier = [t for t in record.transactions[:index] if t.status == "prepared"]
        if earlier:
            raise TransactionStateConflict(
                f"send transaction {index - len(earlier)} ({earlier[0].summary}) first: they share a nonce sequence"
            )
        current = record.transactions[index]
        tx_hash = "0x" + keccak(signed.raw).hex()
        if current.hash == tx_hash and current.status in ("submitted", "confirmed"):
            return BroadcastResult(transaction_id=record.id, index=index, hash=tx_hash, status=current.status)
        client = self._client(record.chain_id)
        try:
            sent = client.request("eth_sendRawTransaction", [request.raw_transaction])
        except RpcError as exc:
            if "already known" not in exc.detail.lower():
                raise
            sent = tx_hash  # the node had it already (a retried broadcast): same hash
        if isinstance(sent, str) and sent.lower() != tx_hash:
            logger.warning("node returned an unexpected hash", extra={"expected": tx_hash, "got": sent})
        updated = [
            t.model_copy(update={"status": "submitted", "hash": tx_hash}) if i == index else t
            for i, t in enumerate(record.transactions)
        ]
        saved = self.store.save_progress(record, updated, tx_hash=tx_hash)
        self._notify(request.user_id, saved)
        logger.info("broadcast", extra={"transaction_id": str(record.id), "index": index, "hash": tx_hash})
        return BroadcastResult(transaction_id=record.id, index=index, hash=tx_hash, status=saved.status)

    def _track_sent(self, request: BroadcastRequest, record: PreparedTransactions) -> BroadcastResult:
        """Track a transaction the wallet sent itself: the node's copy must be the prepared one."""
        assert request.tx_hash is not None
        tx_hash = request.tx_hash.lower()
        seen = self._client(record.chain_id).request("eth_getTransactionByHash", [tx_hash])
        if not seen:
            raise SignedTransactionMismatch(
                f"the node has not seen {tx_hash} yet: send it first, or retry in a few seconds", field="tx_hash"
            )
        as_signed = SignedTransaction(
            raw=b"",
            sender=str(seen["from"]),
            to=seen.get("to"),
            data=bytes.fromhex(str(seen.get("input") or "0x")[2:]),
            value=int(seen.get("value") or "0x0", 16),
            chain_id=int(seen["chainId"], 16) if seen.get("chainId") else None,
            nonce=int(seen["nonce"], 16),
            gas=int(seen["gas"], 16),
            fields=dict(seen),
        )
        try:
            index = _match(record.transactions, as_signed)
        except SignedTransactionMismatch as exc:
            raise SignedTransactionMismatch(exc.detail, field="tx_hash") from exc
        current = record.transactions[index]
        if current.hash == tx_hash and current.status in ("submitted", "confirmed"):
            return BroadcastResult(transaction_id=record.id, index=index, hash=tx_hash, status=current.status)
        updated = [
            t.model_copy(update={"status": "submitted", "hash": tx_hash}) if i == index else t
            for i, t in enumerate(record.transactions)
        ]
        saved = self.store.save_progress(record, updated, tx_hash=tx_hash)
        self._notify(request.user_id, saved)
        logger.info("tracking wallet-sent transaction", extra={"transaction_id": str(record.id), "hash": tx_hash})
        return BroadcastResult(transaction_id=record.id, index=index, hash=tx_hash, status=saved.status)

    # Poll ----------------------------------------------------------------------------------------

    def poll(self, request: PollRequest) -> PollResult:
        """Receipts of every submitted transaction: one JSON-RPC batch per chain."""
        pending = self.store.pending(request.limit)
        counts = {"confirmed": 0, "failed": 0, "replaced": 0, "still_pending": 0}
        trips_before = sum(c.round_trips for c in self.chains.values())
        by_chain: dict[int, list[PreparedTransactions]] = {}
        for _, record in pending:
            by_chain.setdefault(record.chain_id, []).append(record)
        checked = 0
        for chain_id, records in by_chain.items():
            client = self.chains.get(chain_id)
            if client is None:
                logger.warning("no RPC for chain with submitted transactions", extra={"chain_id": chain_id})
                continue
            sent = [(r, i, t) for r in records for i, t in enumerate(r.transactions) if t.status == "submitted"]
            senders = sorted({t.from_address for _, _, t in sent})
            calls = [("eth_getTransactionReceipt", [t.hash]) for _, _, t in sent]
            calls += [("eth_getTransactionCount", [s, "latest"]) for s in senders]
            outcomes = batch_outcomes(client, calls)
            mined_nonce = {
                s.lower(): int(o.result, 16) if o.ok and o.result else None
                for s, o in zip(senders, outcomes[len(sent) :], strict=True)
            }
            changes: dict[UUID, dict[int, tuple[str, int | None]]] = {}
            for (record, index, tx), outcome in zip(sent, outcomes[: len(sent)], strict=True):
                checked += 1
                receipt = outcome.result if outcome.ok else None
                if receipt:
                    ok = int(receipt.get("status", "0x0"), 16) == 1
                    block = int(receipt["blockNumber"], 16) if receipt.get("blockNumber") else None
                    changes.setdefault(record.id, {})[index] = ("confirmed" if ok else "failed", block)
                    counts["confirmed" if ok else "failed"] += 1
                    continue
                latest = mined_nonce.get(tx.from_address.lower())
                if latest is not None and latest > int(tx.nonce, 16):
                    # The nonce is used but not by this hash: the user replaced or cancelled it.
                    changes.setdefault(record.id, {})[index] = ("replaced", None)
                    counts["replaced"] += 1
                else:
                    counts["still_pending"] += 1
            owners = {record.id: user_id for user_id, record in pending}
            for record in records:
                if record.id in changes:
                    self._notify(owners[record.id], self._apply(record, changes[record.id]))
        trips = sum(c.round_trips for c in self.chains.values()) - trips_before
        return PollResult(checked=checked, round_trips=trips, **counts)

    def _apply(self, record: PreparedTransactions, change: dict[int, tuple[str, int | None]]) -> PreparedTransactions:
        updated = []
        block_number = None
        error = None
        for i, tx in enumerate(record.transactions):
            if i in change:
                status, block = change[i]
                updated.append(tx.model_copy(update={"status": status}))
                block_number = block or block_number
                if status == "failed":
                    error = f"transaction {i} ({tx.summary}) reverted on chain in block {block}"
                elif status == "replaced":
                    error = f"transaction {i} ({tx.summary}) was replaced: its nonce was used by another transaction"
            else:
                updated.append(tx)
        return self.store.save_progress(record, updated, block_number=block_number, error=error)


@dataclass
class PrepareOutcome:
    request: PrepareRequest
    record: PreparedTransactions | None = None
    error: DomainError | None = None

    def unwrap_record(self) -> PreparedTransactions:
        if self.error is not None:
            raise self.error
        assert self.record is not None
        return self.record


def _match(prepared: Sequence[UnsignedTransaction], signed: SignedTransaction) -> int:
    """Index of the prepared transaction `signed` is (fees and gas may differ: the wallet's choice)."""
    for i, tx in enumerate(prepared):
        if (
            signed.sender.lower() == tx.from_address.lower()
            and signed.to is not None
            and signed.to.lower() == tx.to.lower()
            and signed.data == bytes.fromhex(tx.data[2:])
            and signed.value == int(tx.value, 16)
            and signed.chain_id == int(tx.chain_id, 16)
            and signed.nonce == int(tx.nonce, 16)
        ):
            return i
    raise SignedTransactionMismatch(
        "the signed transaction is not one of the prepared ones (sender, target, calldata, value, chain and "
        "nonce must match; only gas and fees may differ)",
        field="raw_transaction",
    )
