"""How simulation outcomes become gas limits or refusals (node answers given by hand)."""

from __future__ import annotations

import pytest
from eth_abi import encode

from tidewatch.chain.rpc import RpcError
from tidewatch.transactions.models import DecodedCall
from tidewatch.transactions.plans import PlannedCall
from tidewatch.transactions.preparer import SimulationUnavailable, _simulate
from tidewatch.transactions.rpc_batch import RpcOutcome
from tidewatch.transactions.settings import WalletSettings

APPROVE = PlannedCall(
    "0x" + "11" * 20, b"\x01", DecodedCall(function="approve(address,uint256)", args={}), "Approve 1 USDC"
)
SUPPLY = PlannedCall(
    "0x" + "22" * 20, b"\x02", DecodedCall(function="supply(address,uint256)", args={}), "Supply 1 USDC"
)
REVERT_36 = "0x08c379a0" + encode(["string"], ["36"]).hex()


def test_single_transaction_gets_estimate_plus_margin() -> None:
    gas = _simulate([SUPPLY], [RpcOutcome("0x"), RpcOutcome(hex(100_000))], WalletSettings(gas_margin_percent=20))
    assert gas == [(120_000, 100_000)]


def test_dependent_transaction_gets_simulated_gas_plus_its_margin() -> None:
    simulated = RpcOutcome(
        [{"calls": [{"status": "0x1", "gasUsed": hex(46_000)}, {"status": "0x1", "gasUsed": hex(80_000)}]}]
    )
    gas = _simulate([APPROVE, SUPPLY], [RpcOutcome("0x"), RpcOutcome(hex(46_000)), simulated], WalletSettings())
    assert gas == [(55_200, 46_000), (112_000, 80_000)]


def test_a_revert_in_eth_call_is_refused_with_its_reason() -> None:
    error = RpcError("chain 1: eth_call failed: execution reverted", code=3, data=REVERT_36)
    with pytest.raises(Exception, match="would revert: COLLATERAL_CANNOT_COVER_NEW_BORROW") as refused:
        _simulate([SUPPLY], [RpcOutcome(error=error), RpcOutcome(error=error)], WalletSettings())
    assert refused.value.status == 422  # type: ignore[attr-defined]


def test_a_revert_later_in_the_bundle_names_that_transaction() -> None:
    simulated = RpcOutcome(
        [
            {
                "calls": [
                    {"status": "0x1", "gasUsed": "0xb3b0"},
                    {"status": "0x0", "returnData": REVERT_36, "gasUsed": "0x0"},
                ]
            }
        ]
    )
    with pytest.raises(Exception, match="Supply 1 USDC would revert") as refused:
        _simulate([APPROVE, SUPPLY], [RpcOutcome("0x"), RpcOutcome("0xb3b0"), simulated], WalletSettings())
    assert refused.value.extra["index"] == 1  # type: ignore[attr-defined]


def test_node_errors_that_are_not_reverts_are_not_disguised() -> None:
    error = RpcError("chain 1: eth_estimateGas failed: header not found", code=-32000)
    with pytest.raises(RpcError):
        _simulate([SUPPLY], [RpcOutcome("0x"), RpcOutcome(error=error)], WalletSettings())


def test_a_node_without_eth_simulate_v1_is_a_clear_503() -> None:
    missing = RpcOutcome(
        error=RpcError("chain 1: eth_simulateV1 failed: the method eth_simulateV1 does not exist", code=-32601)
    )
    with pytest.raises(SimulationUnavailable, match="eth_simulateV1") as refused:
        _simulate([APPROVE, SUPPLY], [RpcOutcome("0x"), RpcOutcome("0xb3b0"), missing], WalletSettings())
    assert refused.value.status == 503


def test_batch_outcomes_keep_each_error_and_survive_a_node_that_refuses_batches() -> None:
    import json

    from tidewatch.chain.rpc import ChainClient
    from tidewatch.transactions.rpc_batch import batch_outcomes

    def node(refuse_batches: bool) -> ChainClient:
        def transport(url: str, body: bytes, timeout: float) -> bytes:
            payload = json.loads(body)
            if isinstance(payload, list) and refuse_batches:
                return json.dumps(
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no batches"}}
                ).encode()
            items = payload if isinstance(payload, list) else [payload]
            out = [
                {
                    "jsonrpc": "2.0",
                    "id": i["id"],
                    "error": {"code": 3, "message": "execution reverted", "data": REVERT_36},
                }
                if i["method"] == "eth_call"
                else {"jsonrpc": "2.0", "id": i["id"], "result": "0x5208"}
                for i in items
            ]
            return json.dumps(out if isinstance(payload, list) else out[0]).encode()

        return ChainClient(1, ["http://node"], transport=transport)

    for refuse in (False, True):
        client = node(refuse)
        outcomes = batch_outcomes(client, [("eth_call", [{}]), ("eth_estimateGas", [{}])])
        assert outcomes[0].error is not None
        assert outcomes[0].error.data == REVERT_36
        assert outcomes[1].value() == "0x5208"
        assert client.round_trips == (3 if refuse else 1)
