"""Build and simulate the transactions of intents on one chain in two JSON-RPC round trips.

Round trip 1 (one JSON-RPC batch): `eth_chainId`, `eth_feeHistory`, the pending nonce of each
sender, and ONE Multicall3 `aggregate3` `eth_call` (chunked) with every balance, allowance and
position the plans need — at the pending state.

Round trip 2 (one JSON-RPC batch): for each bundle, `eth_call` and `eth_estimateGas` of its first
transaction at the pending state and, when an approval precedes the protocol call,
`eth_simulateV1` of the whole ordered bundle (the protocol call only succeeds after the approval,
which a plain `eth_call` cannot see). A bundle any of whose transactions would revert is refused
with the decoded reason; the others are returned. So preparing one intent or a hundred costs the
same two round trips per chain.

Gas: `eth_estimateGas` plus `gas_margin_percent` (default 20 %): state moves between prepare and
inclusion (interest accrues, another tx lands first) and a tx that runs out of gas still pays.
A transaction after an approval gets its simulated `gasUsed` plus `dependent_gas_margin_percent`
(default 40 %), because gasUsed is below the gas limit a call needs (EIP-150's 63/64 rule, refunds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, CallResult
from tidewatch.chain.rpc import ChainClient, RpcError
from tidewatch.errors import DomainError, UpstreamUnavailable
from tidewatch.protocols.registry import ChainRegistry
from tidewatch.transactions import plans
from tidewatch.transactions.errors import ChainMismatch, WouldRevert
from tidewatch.transactions.fees import fee_history_params, quote_from_history
from tidewatch.transactions.models import FeeQuote, Intent, UnsignedTransaction
from tidewatch.transactions.revert import decode_revert, revert_data_from_error
from tidewatch.transactions.rpc_batch import RpcOutcome, batch_outcomes
from tidewatch.transactions.settings import WalletSettings

MULTICALL_CHUNK = 400
_UNSUPPORTED_METHOD_CODES = frozenset({-32601, -32004})


class SimulationUnavailable(UpstreamUnavailable):
    type_slug = "simulation-unavailable"
    title = "The node cannot simulate this bundle"


@dataclass
class Prepared:
    """The outcome of one intent: transactions ready to sign, or the refusal."""

    intent: Intent  # the first step (sender, chain, speed)
    steps: list[Intent] = field(default_factory=list)
    transactions: list[UnsignedTransaction] = field(default_factory=list)
    fees: FeeQuote | None = None
    error: DomainError | None = None

    @property
    def summary(self) -> str:
        return "; then ".join(tx.summary for tx in self.transactions)

    def unwrap(self) -> Prepared:
        if self.error is not None:
            raise self.error
        return self


def _tx_call(intent: Intent, call: plans.PlannedCall) -> dict[str, str]:
    return {"from": intent.from_address, "to": call.to, "data": "0x" + call.data.hex(), "value": "0x0"}


def _is_revert(error: RpcError) -> bool:
    return error.code == 3 or "revert" in error.detail.lower() or revert_data_from_error(error.data) is not None


def _refusal(call: plans.PlannedCall, index: int, reason: str) -> WouldRevert:
    return WouldRevert(
        f"{call.summary} would revert: {reason}", reason=reason, index=index, function=call.decoded.function
    )


def _revert_from_rpc(call: plans.PlannedCall, index: int, error: RpcError) -> DomainError:
    if not _is_revert(error):
        return error
    data = revert_data_from_error(error.data)
    reason = decode_revert(data) if data else error.detail.split("failed: ", 1)[-1]
    return _refusal(call, index, reason)


def _multicall_payload(multicall: str, calls: Sequence[Call]) -> tuple[str, list[Any]]:
    data = abi.MULTICALL3_AGGREGATE3.encode([(c.target, True, c.calldata()) for c in calls])
    return "eth_call", [{"to": multicall, "data": "0x" + data.hex()}, "pending"]


def _decode_multicall(calls: Sequence[Call], raw_hex: str) -> list[CallResult]:
    (results,) = abi.MULTICALL3_AGGREGATE3.decode(bytes.fromhex(raw_hex[2:]))
    out = []
    for call, (ok, data) in zip(calls, results, strict=True):
        if not ok:
            out.append(CallResult(False, error=f"{call.function.name}: {decode_revert(data)}"))
            continue
        try:
            out.append(CallResult(True, call.function.decode(data)))
        except Exception as exc:  # no contract at the address, or a different ABI
            out.append(CallResult(False, error=f"{call.function.name}: undecodable result ({type(exc).__name__})"))
    return out


def _margin(gas: int, percent: int) -> int:
    return gas * (100 + percent) // 100


def prepare_on_chain(
    client: ChainClient, chain: ChainRegistry, intents: Sequence[Intent], settings: WalletSettings
) -> list[Prepared]:
    """Prepare every intent (all on `chain`): one `Prepared` per intent, in order."""
    return prepare_bundles(client, chain, [[intent] for intent in intents], settings)


def prepare_bundles(
    client: ChainClient, chain: ChainRegistry, bundles: Sequence[Sequence[Intent]], settings: WalletSettings
) -> list[Prepared]:
    """Prepare bundles of intents: the steps of a bundle run in order from one sender (e.g. withdraw
    from one market, then supply to another), and are simulated together."""
    results = [Prepared(bundle[0], steps=list(bundle)) for bundle in bundles]
    targets: dict[int, list[plans.Target]] = {}
    for i, prepared in enumerate(results):
        try:
            for step in prepared.steps:
                if step.chain_id != chain.chain_id:
                    raise ChainMismatch(f"intent is for chain {step.chain_id}, not {chain.chain_id}")
                if step.from_address.lower() != prepared.intent.from_address.lower():
                    raise ChainMismatch("every step of a bundle must have the same sender")
            targets[i] = [plans.resolve(step, chain) for step in prepared.steps]
        except DomainError as exc:
            prepared.error = exc
    if not targets:
        return results

    # Round trip 1: chain id, fees, nonces and every read, at the pending state.
    senders = sorted({results[i].intent.from_address.lower(): results[i].intent.from_address for i in targets}.values())
    read_calls: list[Call] = []
    read_slices: dict[tuple[int, int], slice] = {}
    for i, steps in targets.items():
        for k, target in enumerate(steps):
            needed = plans.reads(target)
            read_slices[i, k] = slice(len(read_calls), len(read_calls) + len(needed))
            read_calls.extend(needed)
    chunks = [read_calls[k : k + MULTICALL_CHUNK] for k in range(0, len(read_calls), MULTICALL_CHUNK)]
    first: list[tuple[str, list[Any]]] = [
        ("eth_chainId", []),
        ("eth_feeHistory", fee_history_params(settings)),
        *(("eth_getTransactionCount", [s, "pending"]) for s in senders),
        *(_multicall_payload(chain.multicall3, chunk) for chunk in chunks),
    ]
    answers = client.batch(first)
    node_chain = int(answers[0], 16)
    if node_chain != chain.chain_id:
        raise ChainMismatch(
            f"the RPC node for chain {chain.chain_id} is on chain {node_chain}: refusing to prepare",
            node_chain_id=node_chain,
        )
    fees = quote_from_history(answers[1], settings)
    nonces = {s.lower(): int(n, 16) for s, n in zip(senders, answers[2 : 2 + len(senders)], strict=True)}
    read_results: list[CallResult] = []
    for chunk, raw in zip(chunks, answers[2 + len(senders) :], strict=True):
        read_results.extend(_decode_multicall(chunk, raw))

    planned: dict[int, list[plans.PlannedCall]] = {}
    for i, steps in targets.items():
        try:
            calls: list[plans.PlannedCall] = []
            credit: dict[str, int] = {}  # token -> what earlier steps put in the wallet
            for k, target in enumerate(steps):
                token = target.token.address.lower()
                part = plans.plan_step(target, read_results[read_slices[i, k]], settings, credit=credit.get(token, 0))
                credit[token] = credit.get(token, 0) + part.received
                calls.extend(part.calls)
            plans.check_targets(calls, chain)
            planned[i] = calls
        except DomainError as exc:
            results[i].error = exc
        except Exception as exc:  # a read failed (CallFailed): the market is unreadable right now
            results[i].error = UpstreamUnavailable(f"could not read the state needed for this intent: {exc}")

    # Round trip 2: simulate (and estimate) every bundle at the pending state.
    second: list[tuple[str, list[Any]]] = []
    spans: dict[int, tuple[int, int]] = {}
    for i, calls in planned.items():
        intent = results[i].intent
        start = len(second)
        head = _tx_call(intent, calls[0])
        second.append(("eth_call", [head, "pending"]))
        second.append(("eth_estimateGas", [head, "pending"]))
        if len(calls) > 1:
            bundle = {"blockStateCalls": [{"calls": [_tx_call(intent, c) for c in calls]}], "validation": False}
            second.append(("eth_simulateV1", [bundle, "pending"]))
        spans[i] = (start, len(second))
    outcomes = batch_outcomes(client, second)

    for i, calls in planned.items():
        start, end = spans[i]
        prepared = results[i]
        try:
            gas = _simulate(calls, outcomes[start:end], settings)
        except DomainError as exc:
            prepared.error = exc
            continue
        option = fees.option(prepared.intent.speed)
        key = prepared.intent.from_address.lower()
        txs = []
        for call, (gas_limit, used) in zip(calls, gas, strict=True):
            txs.append(
                UnsignedTransaction(
                    from_address=prepared.intent.from_address,
                    to=call.to,
                    data="0x" + call.data.hex(),
                    chain_id=hex(chain.chain_id),
                    gas=hex(gas_limit),
                    max_fee_per_gas=hex(option.max_fee_per_gas),
                    max_priority_fee_per_gas=hex(option.max_priority_fee_per_gas),
                    nonce=hex(nonces[key]),
                    summary=call.summary,
                    decoded=call.decoded,
                    simulated_gas_used=used,
                )
            )
            nonces[key] += 1  # the next bundle of the same sender follows this one
        prepared.transactions = txs
        prepared.fees = fees
    return results


def _simulate(
    calls: list[plans.PlannedCall], outcomes: list[RpcOutcome], settings: WalletSettings
) -> list[tuple[int, int]]:
    """(gas limit, simulated gas used) per call, or raise the refusal with its decoded reason."""
    call_outcome, estimate_outcome = outcomes[0], outcomes[1]
    for outcome in (call_outcome, estimate_outcome):
        if outcome.error is not None:
            raise _revert_from_rpc(calls[0], 0, outcome.error)
    estimate = int(estimate_outcome.result, 16)
    gas = [(_margin(estimate, settings.gas_margin_percent), estimate)]
    if len(calls) == 1:
        return gas
    simulated = outcomes[2]
    if simulated.error is not None:
        message = simulated.error.detail.lower()
        if simulated.error.code in _UNSUPPORTED_METHOD_CODES or any(
            hint in message for hint in ("not supported", "not found", "does not exist", "unsupported")
        ):
            raise SimulationUnavailable(
                "the RPC node does not support eth_simulateV1, needed to simulate a transaction that "
                "depends on the approval before it; configure a node that does (geth >= 1.14.6, reth, anvil)"
            )
        raise _revert_from_rpc(calls[1], 1, simulated.error)
    blocks = simulated.result or []
    results = blocks[0].get("calls", []) if blocks else []
    if len(results) != len(calls):
        raise SimulationUnavailable(f"eth_simulateV1 returned {len(results)} results for {len(calls)} calls")
    for index, (call, result) in enumerate(zip(calls, results, strict=True)):
        if int(result.get("status", "0x0"), 16) != 1:
            error = result.get("error") or {}
            data = revert_data_from_error(error.get("data")) or revert_data_from_error(result.get("returnData"))
            reason = decode_revert(data) if data else str(error.get("message") or "reverted")
            raise _refusal(call, index, reason)
        if index:
            used = int(result.get("gasUsed", "0x0"), 16)
            gas.append((_margin(used, settings.dependent_gas_margin_percent), used))
    return gas
