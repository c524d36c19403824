"""The devnet's stand-in contracts expose exactly the real protocols' selectors and return types.

Aave v3 runs its published bytecode on the devnet; its ABIs are checked against the published
artifacts in test_aave_published_abis.py.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tidewatch.chain import abi
from tidewatch_local.devnet.artifacts import artifact

# Selectors of the deployed mainnet contracts (as listed by Etherscan / 4byte for these ABIs).
REAL_SELECTORS = {
    "aggregate3((address,bool,bytes)[])": "82ad56cb",
    "getBlockNumber()": "42cbb15c",
    "getCurrentBlockTimestamp()": "0f28c97d",
    "getUserAccountData(address)": "bf92857c",
    "supply(address,uint256,address,uint16)": "617ba037",
    "withdraw(address,uint256,address)": "69328dec",
    "borrow(address,uint256,uint256,uint16,address)": "a415bcad",
    "repay(address,uint256,uint256,address)": "573ade81",
    "getReservesList()": "d1946dbc",
    "getReserveData(address)": "35ea6a75",
    "getReserveConfigurationData(address)": "3e150141",
    "getUserReserveData(address,address)": "28dd2d01",
    "getAssetPrice(address)": "b3596f07",
    "getUtilization()": "7eb71131",
    "getSupplyRate(uint256)": "d955759d",
    "getBorrowRate(uint256)": "9fa83b5a",
    "totalBorrow()": "8285ef40",
    "baseTokenPriceFeed()": "e7dad6bd",
    "getPrice(address)": "41976e09",
    "getAssetInfoByAddress(address)": "3b3bec2e",
    "borrowBalanceOf(address)": "374c49b4",
    "collateralBalanceOf(address,address)": "5c2549ee",
    "supply(address,uint256)": "f2b9fdb8",
    "withdraw(address,uint256)": "f3fef3a3",
    "depositIntoStrategy(address,address,uint256)": "e7a050aa",
    "stakerDepositShares(address,address)": "fe243a17",
    "sharesToUnderlyingView(uint256)": "7a8b2637",
    "userUnderlyingView(address)": "553ca5f8",
    "balanceOf(address)": "70a08231",
    "approve(address,uint256)": "095ea7b3",
    "allowance(address,address)": "dd62ed3e",
    "decimals()": "313ce567",
    "totalSupply()": "18160ddd",
}

# Which devnet contract stands in for which real contract, and the functions Tidewatch uses on it.
CONTRACT_FUNCTIONS = {
    "Multicall3": [abi.MULTICALL3_AGGREGATE3, abi.MULTICALL3_BLOCK_NUMBER, abi.MULTICALL3_BLOCK_TIMESTAMP],
    "Comet": [
        abi.COMET_GET_UTILIZATION,
        abi.COMET_GET_SUPPLY_RATE,
        abi.COMET_GET_BORROW_RATE,
        abi.COMET_TOTAL_SUPPLY,
        abi.COMET_TOTAL_BORROW,
        abi.COMET_BASE_PRICE_FEED,
        abi.COMET_GET_PRICE,
        abi.COMET_GET_ASSET_INFO_BY_ADDRESS,
        abi.COMET_TOTALS_COLLATERAL,
        abi.COMET_BALANCE_OF,
        abi.COMET_BORROW_BALANCE_OF,
        abi.COMET_COLLATERAL_BALANCE_OF,
        abi.COMET_IS_LIQUIDATABLE,
        abi.COMET_SUPPLY,
        abi.COMET_WITHDRAW,
    ],
    "StrategyManager": [abi.EIGEN_DEPOSIT_INTO_STRATEGY, abi.EIGEN_STAKER_DEPOSIT_SHARES],
    "StrategyBase": [
        abi.EIGEN_STRATEGY_TOTAL_SHARES,
        abi.EIGEN_STRATEGY_UNDERLYING_TOKEN,
        abi.EIGEN_STRATEGY_SHARES_TO_UNDERLYING,
        abi.EIGEN_STRATEGY_SHARES,
        abi.EIGEN_STRATEGY_USER_UNDERLYING,
    ],
    "DevToken": [
        abi.ERC20_BALANCE_OF,
        abi.ERC20_ALLOWANCE,
        abi.ERC20_APPROVE,
        abi.ERC20_DECIMALS,
        abi.ERC20_SYMBOL,
        abi.ERC20_TOTAL_SUPPLY,
    ],
}


def _canonical(t: dict) -> str:  # type: ignore[type-arg]
    if t["type"].startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in t["components"]) + ")" + t["type"][len("tuple") :]
    return str(t["type"])


def _artifact_functions(name: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for item in artifact(name)["abi"]:
        if item["type"] == "function":
            sig = f"{item['name']}({','.join(_canonical(i) for i in item['inputs'])})"
            out[sig] = tuple(_canonical(o) for o in item["outputs"])
    return out


def test_python_abis_use_the_real_selectors() -> None:
    # Given the selectors of the mainnet contracts
    # When the client's ABI definitions compute theirs
    ours = {f.signature: f.selector.hex() for f in abi.ALL_FUNCTIONS}
    # Then every known one matches, and keccak agrees with the published table
    for signature, selector in REAL_SELECTORS.items():
        assert keccak(text=signature)[:4].hex() == selector
        if signature in ours:
            assert ours[signature] == selector, signature


@pytest.mark.parametrize("contract", sorted(CONTRACT_FUNCTIONS))
def test_devnet_artifacts_expose_the_real_signatures_and_return_types(contract: str) -> None:
    # Given the compiled devnet contract
    functions = _artifact_functions(contract)
    # Then every function Tidewatch uses on the real contract exists with the same selector and outputs
    for fn in CONTRACT_FUNCTIONS[contract]:
        assert fn.signature in functions, f"{contract} lacks {fn.signature}"
        assert functions[fn.signature] == fn.outputs, f"{contract}.{fn.signature} returns {functions[fn.signature]}"
        if fn.signature in REAL_SELECTORS:
            assert fn.selector.hex() == REAL_SELECTORS[fn.signature]
