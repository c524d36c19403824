"""Tidewatch's Aave knowledge checked against Aave's own published definitions.

* revert codes: v3.0 from `Errors.sol` inside npm `@aave/core-v3` 1.19.3, v3.1-v3.3 numeric codes
  and v3.4+ custom errors from github.com/aave-dao/aave-v3-origin (tests/data/aave, commits named);
* ABIs: every Aave function Tidewatch encodes or decodes, against the ABIs in the published
  `@aave/core-v3` artifacts (not the devnet's contracts);
* roots: the registry's addresses per instance, against npm `@aave-dao/aave-address-book`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from tidewatch.chain import abi
from tidewatch.protocols.registry import load_registry
from tidewatch.transactions.revert import decode_revert
from tidewatch_local.devnet.aave_v3 import CORE_V3, published_abi
from tidewatch_local.devnet.artifacts import REPO_ROOT

DATA = json.loads((Path(__file__).parents[2] / "data" / "aave" / "errors_v3_3_and_v3_4.json").read_text())
ADDRESS_BOOK = REPO_ROOT / "devnet" / "node_modules" / "@aave-dao" / "aave-address-book" / "src"


def error_string(message: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], [message])


def v30_codes() -> dict[str, str]:
    source = (CORE_V3 / "contracts" / "protocol" / "libraries" / "helpers" / "Errors.sol").read_text()
    return {code: name for name, code in re.findall(r"constant (\w+) = '(\d+)'", source)}


def test_every_v3_0_code_is_named_as_in_the_published_errors_sol() -> None:
    # Given every constant of @aave/core-v3's Errors.sol (v3.0)
    codes = v30_codes()
    assert len(codes) == 90
    # Then a revert with that code decodes to its name
    for code, name in codes.items():
        assert decode_revert(error_string(code)) == f"{name} (Aave error {code})"


def test_every_v3_3_code_is_named_as_in_aave_v3_origin() -> None:
    for code, name in DATA["numeric_v3_3"]["codes"].items():
        assert decode_revert(error_string(code)) == f"{name} (Aave error {code})"


def test_the_codes_users_meet_have_their_real_names() -> None:
    # 43 is UNDERLYING_BALANCE_ZERO, 57 LTV_VALIDATION_FAILED, and no version defines 48
    assert decode_revert(error_string("43")).startswith("UNDERLYING_BALANCE_ZERO")
    assert decode_revert(error_string("57")).startswith("LTV_VALIDATION_FAILED")
    assert decode_revert(error_string("45")).startswith("HEALTH_FACTOR_NOT_BELOW_THRESHOLD")
    assert decode_revert(error_string("48")) == "48"


def test_every_v3_4_custom_error_decodes_by_its_selector() -> None:
    # Given the v3.4+ custom errors (all argument-less)
    for name in DATA["custom_v3_4"]["errors"]:
        selector = keccak(text=f"{name}()")[:4]
        # Then a revert with the bare selector is named
        assert decode_revert(selector) == name
    assert decode_revert(keccak(text="HealthFactorLowerThanLiquidationThreshold()")[:4]) == (
        "HealthFactorLowerThanLiquidationThreshold"
    )


def _canonical(t: dict[str, Any]) -> str:
    if t["type"].startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in t["components"]) + ")" + t["type"][len("tuple") :]
    return str(t["type"])


def _functions(contract: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for item in published_abi(contract):
        if item["type"] == "function":
            signature = f"{item['name']}({','.join(_canonical(i) for i in item['inputs'])})"
            out[signature] = tuple(_canonical(o) for o in item["outputs"])
    return out


USED = {
    "Pool": [
        abi.AAVE_GET_USER_ACCOUNT_DATA,
        abi.AAVE_GET_RESERVES_LIST,
        abi.AAVE_SUPPLY,
        abi.AAVE_WITHDRAW,
        abi.AAVE_BORROW,
        abi.AAVE_REPAY,
        abi.AAVE_LIQUIDATION_CALL,
        abi.AAVE_SET_USER_EMODE,
        abi.AAVE_GET_USER_EMODE,
        abi.AAVE_GET_EMODE_CATEGORY_DATA,
        abi.AAVE_GET_CONFIGURATION,
    ],
    "AaveProtocolDataProvider": [
        abi.AAVE_DP_GET_RESERVE_DATA,
        abi.AAVE_DP_GET_RESERVE_CONFIGURATION,
        abi.AAVE_DP_GET_RESERVE_CAPS,
        abi.AAVE_DP_GET_USER_RESERVE_DATA,
    ],
    "AaveOracle": [abi.AAVE_ORACLE_GET_ASSET_PRICE],
}


@pytest.mark.parametrize("contract", sorted(USED))
def test_every_aave_function_tidewatch_uses_matches_the_published_abi(contract: str) -> None:
    # Given the ABI in @aave/core-v3's published artifact
    published = _functions(contract)
    # Then each function Tidewatch uses exists with the same selector and output layout
    for fn in USED[contract]:
        assert fn.signature in published, f"{contract} has no {fn.signature}"
        assert published[fn.signature] == fn.outputs, (fn.signature, published[fn.signature])
        assert fn.selector == keccak(text=fn.signature)[:4]


def _book(library: str) -> dict[str, str]:
    source = (ADDRESS_BOOK / f"{library}.sol").read_text()
    return {m[0]: m[1] for m in re.findall(r"(\w+)\s*=\s*(?:\w+\()?\s*(0x[0-9a-fA-F]{40})", source)}


ROLE_TO_BOOK = {
    "pool_addresses_provider": "POOL_ADDRESSES_PROVIDER",
    "pool": "POOL",
    "data_provider": "AAVE_PROTOCOL_DATA_PROVIDER",
    "oracle": "ORACLE",
}


@pytest.mark.parametrize(
    ("chain_id", "instance", "library"),
    [
        (1, "core", "AaveV3Ethereum"),
        (1, "prime", "AaveV3EthereumLido"),
        (1, "etherfi", "AaveV3EthereumEtherFi"),
        (8453, "core", "AaveV3Base"),
    ],
)
def test_registry_roots_equal_the_address_book(chain_id: int, instance: str, library: str) -> None:
    # Given the registry's root for the instance and the address book's library for it
    chain = load_registry("mainnet").chain(chain_id)
    (root,) = [r for r in chain.roots if r.protocol == "aave-v3" and r.instance == instance]
    book = _book(library)
    published_js = (ADDRESS_BOOK.parent / "dist" / f"{library}.js").read_text()
    chain_line = re.search(r"var CHAIN_ID = (\d+);", published_js)
    assert chain_line is not None
    assert int(chain_line.group(1)) == chain_id
    # Then every root contract is the published address (EIP-55 as published)
    assert set(root.contracts) == set(ROLE_TO_BOOK)
    for role, name in ROLE_TO_BOOK.items():
        assert root.contracts[role] == book[name], (library, role)
    assert library in root.source


def test_listed_aave_markets_use_a_roots_pool_data_provider_and_oracle() -> None:
    registry = load_registry("mainnet")
    for chain in registry.chains:
        roots = {r.contracts["pool"]: r for r in chain.roots if r.protocol == "aave-v3"}
        for m in chain.markets:
            if m.protocol == "aave-v3":
                root = roots[m.pool]  # type: ignore[union-attr]
                assert m.data_provider == root.contracts["data_provider"]  # type: ignore[union-attr]
                assert m.oracle == root.contracts["oracle"]  # type: ignore[union-attr]


def _address_book_abi(name: str) -> list[dict[str, Any]]:
    """An ABI of the live Aave interfaces as the address book publishes it (`dist/abis/<name>.js`,
    a JavaScript array literal: keys unquoted, trailing commas), read as JSON."""
    text = (ADDRESS_BOOK.parent / "dist" / "abis" / f"{name}.js").read_text()
    body = text[text.index("_ABI = [") + len("_ABI = ") :]
    body = body[: body.index("\n];") + 2]
    body = re.sub(r"(\n\s*)(\w+):", r'\1"\2":', body)
    body = re.sub(r",(\s*[\]}])", r"\1", body)
    abi_items: list[dict[str, Any]] = json.loads(body)
    return abi_items


LIVE = {
    "IPool": USED["Pool"],
    "IAaveOracle": USED["AaveOracle"],
}


@pytest.mark.parametrize("interface", sorted(LIVE))
def test_every_aave_function_tidewatch_uses_matches_the_live_abi_of_the_address_book(interface: str) -> None:
    # Given the live interface ABI shipped by @aave-dao/aave-address-book (v3.3+ Pool)
    published = {}
    for item in _address_book_abi(interface):
        if item["type"] == "function":
            signature = f"{item['name']}({','.join(_canonical(i) for i in item['inputs'])})"
            published[signature] = tuple(_canonical(o) for o in item["outputs"])
    # Then the functions Tidewatch calls on the live Pool and oracle exist with the same layout
    # (so the v3.0 devnet and mainnet decode alike)
    for fn in LIVE[interface]:
        assert fn.signature in published, f"live {interface} has no {fn.signature}"
        assert published[fn.signature] == fn.outputs, (fn.signature, published[fn.signature])
