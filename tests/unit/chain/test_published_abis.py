"""Every Comet, EigenLayer and Chainlink function Tidewatch encodes or decodes matches the
published ABI (tests/data/published_abis.json: Comet's interface contracts, the ABIs shipped in
PyPI `eigensdk` 0.1.0), and the devnet stand-ins expose exactly those signatures and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak

from tidewatch.chain import abi
from tidewatch.transactions.revert import CUSTOM_ERRORS
from tidewatch_local.devnet.artifacts import artifact

PUBLISHED = json.loads((Path(__file__).resolve().parents[2] / "data" / "published_abis.json").read_text())
EIGEN = {
    **PUBLISHED["eigenlayer"]["DelegationManager"],
    **PUBLISHED["eigenlayer"]["StrategyManager"],
    **PUBLISHED["eigenlayer"]["IStrategy"],
}
COMET_FUNCTIONS = [v for k, v in vars(abi).items() if k.startswith("COMET_") and isinstance(v, abi.Function)]
EIGEN_FUNCTIONS = [v for k, v in vars(abi).items() if k.startswith("EIGEN_") and isinstance(v, abi.Function)]
CHAINLINK_FUNCTIONS = [abi.CHAINLINK_LATEST_ROUND_DATA, abi.CHAINLINK_DECIMALS]


def _type(p: dict) -> str:  # type: ignore[type-arg]
    if p["type"].startswith("tuple"):
        return "(" + ",".join(_type(c) for c in p["components"]) + ")" + p["type"][5:]
    return str(p["type"])


def _artifact_functions(name: str) -> dict[str, list[str]]:
    out = {}
    for item in artifact(name)["abi"]:
        if item["type"] == "function":
            sig = f"{item['name']}({','.join(_type(i) for i in item['inputs'])})"
            out[sig] = [_type(o) for o in item["outputs"]]
    return out


# Output words that differ only in the declared width of an unsigned integer are the same ABI
# encoding (one 32-byte word): Comet declares `uint` and returns a uint64/uint104 value.
def _same_encoding(a: list[str], b: list[str]) -> bool:
    def norm(t: str) -> str:
        return "uint" if t.startswith("uint") and t[4:].isdigit() and "[" not in t else t

    return [norm(x) for x in a] == [norm(x) for x in b]


@pytest.mark.parametrize("fn", COMET_FUNCTIONS, ids=lambda f: f.signature)
def test_comet_function_matches_comets_published_interface(fn: abi.Function) -> None:
    published = PUBLISHED["comet"]["functions"]
    assert fn.signature in published
    assert list(fn.outputs) == published[fn.signature]


@pytest.mark.parametrize("fn", EIGEN_FUNCTIONS, ids=lambda f: f.signature)
def test_eigenlayer_function_matches_the_eigensdk_abi(fn: abi.Function) -> None:
    assert fn.signature in EIGEN
    assert list(fn.outputs) == EIGEN[fn.signature]


@pytest.mark.parametrize("fn", CHAINLINK_FUNCTIONS, ids=lambda f: f.signature)
def test_chainlink_function_matches_aggregator_v3(fn: abi.Function) -> None:
    assert list(fn.outputs) == PUBLISHED["chainlink"]["functions"][fn.signature]


def test_the_comet_stand_in_exposes_the_published_signatures_and_outputs() -> None:
    # Given the devnet Comet's compiled ABI
    devnet = _artifact_functions("Comet")
    # Then every published function Tidewatch or the devnet relies on is there with the same encoding
    for sig, outputs in PUBLISHED["comet"]["functions"].items():
        assert sig in devnet, sig
        assert _same_encoding(devnet[sig], outputs), sig
    # ... and its custom errors are Comet's (same names and arguments)
    errors = {
        f"{e['name']}({','.join(_type(i) for i in e['inputs'])})"
        for e in artifact("Comet")["abi"]
        if e["type"] == "error"
    }
    assert errors <= set(PUBLISHED["comet"]["errors"])


def test_the_eigenlayer_stand_ins_expose_the_eigensdk_signatures_and_outputs() -> None:
    for contract, name in (("DelegationManager", "DelegationManager"), ("StrategyManager", "StrategyManager")):
        devnet = _artifact_functions(name)
        for sig, outputs in PUBLISHED["eigenlayer"][contract].items():
            assert sig in devnet, f"{name}.{sig}"
            assert devnet[sig] == outputs, f"{name}.{sig}"
    strategy = _artifact_functions("StrategyBase")
    for sig, outputs in PUBLISHED["eigenlayer"]["IStrategy"].items():
        assert strategy.get(sig) == outputs, sig


def test_revert_decoding_knows_every_published_comet_error() -> None:
    for sig in PUBLISHED["comet"]["errors"]:
        assert CUSTOM_ERRORS[keccak(text=sig)[:4]] == sig
