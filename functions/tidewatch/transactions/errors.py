"""Refusals of the wallet: each a 4xx `DomainError` with a stable slug the dashboard can act on."""

from __future__ import annotations

from tidewatch.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class WouldRevert(DomainError):
    """Simulation at the pending state says the transaction would revert: it is not returned."""

    type_slug = "transaction-would-revert"
    title = "Transaction would revert"
    status = 422


class NotYourAddress(Forbidden):
    type_slug = "from-not-in-portfolio"
    title = "Sender is not one of your portfolio addresses"


class ContractNotAllowed(Forbidden):
    type_slug = "contract-not-allowed"
    title = "Target contract is not in the registry"


class AmountExceedsBalance(InvalidInput):
    type_slug = "amount-exceeds-balance"
    title = "Amount exceeds the available balance"


class ChainMismatch(InvalidInput):
    type_slug = "chain-mismatch"
    title = "Chain id does not match"


class UnsupportedIntent(InvalidInput):
    type_slug = "unsupported-intent"
    title = "Unsupported transaction intent"


class SignedTransactionMismatch(InvalidInput):
    type_slug = "signed-transaction-mismatch"
    title = "Signed transaction does not match the prepared one"


class TransactionNotFound(NotFound):
    type_slug = "transaction-not-found"
    title = "Transaction not found"


class TransactionStateConflict(Conflict):
    type_slug = "transaction-state-conflict"
    title = "Transaction is not in a state that allows this"
