"""Deploy Aave v3 from its published bytecode (npm `@aave/core-v3`, Hardhat artifacts, solc 0.8.10).

The order follows `@aave/deploy-v3`'s scripts (its scripts are a guide; they do not run here):
PoolAddressesProvider → ACLManager (+ roles) → AaveProtocolDataProvider → logic libraries →
Pool implementation, set on the provider (which deploys the proxy and initializes it) →
ConfiguratorLogic → PoolConfigurator (same) → AaveOracle → AToken / VariableDebtToken /
StableDebtToken implementations → per reserve a DefaultReserveInterestRateStrategy, then
`PoolConfigurator.initReserves` and the risk configuration governance sets (collateral params,
borrowing, reserve factor, caps, eMode). Libraries are linked from each artifact's
`linkReferences` (byte offsets of the `__$…$__` placeholders).

Prices come from settable Chainlink-style aggregators (`DevPriceFeed`, `latestAnswer` in USD with
8 decimals, as Chainlink's USD feeds): `@aave/core-v3`'s own `MockAggregator` has no setter, so the
market simulator could not move it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from web3 import Web3
from web3.contract import Contract

from tidewatch_local.devnet.artifacts import REPO_ROOT

CORE_V3 = REPO_ROOT / "devnet" / "node_modules" / "@aave" / "core-v3"
ARTIFACTS = CORE_V3 / "artifacts" / "contracts"
MARKET_ID = "Tidewatch Devnet Market"
BASE_CURRENCY_UNIT = 10**8  # USD, 8 decimals (AaveOracle BASE_CURRENCY_UNIT on Ethereum and Base)

# Artifact paths (relative to artifacts/contracts) of what the devnet deploys.
PATHS = {
    "PoolAddressesProvider": "protocol/configuration/PoolAddressesProvider.sol",
    "ACLManager": "protocol/configuration/ACLManager.sol",
    "AaveProtocolDataProvider": "misc/AaveProtocolDataProvider.sol",
    "SupplyLogic": "protocol/libraries/logic/SupplyLogic.sol",
    "BorrowLogic": "protocol/libraries/logic/BorrowLogic.sol",
    "LiquidationLogic": "protocol/libraries/logic/LiquidationLogic.sol",
    "EModeLogic": "protocol/libraries/logic/EModeLogic.sol",
    "BridgeLogic": "protocol/libraries/logic/BridgeLogic.sol",
    "FlashLoanLogic": "protocol/libraries/logic/FlashLoanLogic.sol",
    "PoolLogic": "protocol/libraries/logic/PoolLogic.sol",
    "ConfiguratorLogic": "protocol/libraries/logic/ConfiguratorLogic.sol",
    "Pool": "protocol/pool/Pool.sol",
    "PoolConfigurator": "protocol/pool/PoolConfigurator.sol",
    "AaveOracle": "misc/AaveOracle.sol",
    "AToken": "protocol/tokenization/AToken.sol",
    "VariableDebtToken": "protocol/tokenization/VariableDebtToken.sol",
    "StableDebtToken": "protocol/tokenization/StableDebtToken.sol",
    "DefaultReserveInterestRateStrategy": "protocol/pool/DefaultReserveInterestRateStrategy.sol",
    "Errors": "protocol/libraries/helpers/Errors.sol",
}
LIBRARIES = (
    "SupplyLogic",
    "BorrowLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "FlashLoanLogic",
    "PoolLogic",
)


@lru_cache(maxsize=32)
def aave_artifact(name: str) -> dict[str, Any]:
    """The published Hardhat artifact of one `@aave/core-v3` contract."""
    path = ARTIFACTS / PATHS[name] / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `npm ci` in devnet/ (installs @aave/core-v3)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def core_v3_version() -> str:
    return str(json.loads((CORE_V3 / "package.json").read_text())["version"])


def link(art: dict[str, Any], libraries: dict[str, str]) -> str:
    """The creation bytecode with every library placeholder replaced by its deployed address."""
    code = art["bytecode"][2:]
    for _source, names in art.get("linkReferences", {}).items():
        for lib, refs in names.items():
            address = libraries[lib][2:].lower()
            for ref in refs:
                start = ref["start"] * 2
                code = code[:start] + address + code[start + ref["length"] * 2 :]
    if "__$" in code:
        raise ValueError(f"{art['contractName']}: unlinked library placeholder left")
    return "0x" + code


@dataclass(frozen=True)
class RateStrategy:
    """DefaultReserveInterestRateStrategy v3.0 parameters, ray (1e27)."""

    optimal_usage: int
    base_variable: int
    variable_slope1: int
    variable_slope2: int
    stable_slope1: int = 0
    stable_slope2: int = 0
    base_stable_offset: int = 0
    stable_excess_offset: int = 0
    optimal_stable_to_total: int = 0


@dataclass(frozen=True)
class ReserveConfig:
    symbol: str
    address: str
    decimals: int
    feed: str
    ltv: int  # bps
    liquidation_threshold: int  # bps
    liquidation_bonus: int  # bps, 10_000 + bonus
    reserve_factor: int  # bps
    strategy: RateStrategy
    supply_cap: int = 0  # whole tokens, 0 = none
    borrow_cap: int = 0
    borrowable: bool = True
    emode_category: int = 0


@dataclass(frozen=True)
class EModeCategory:
    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str


@dataclass
class AaveMarket:
    provider: Contract
    pool: Contract
    configurator: Contract
    oracle: Contract
    data_provider: Contract
    acl: Contract
    implementations: dict[str, str]
    treasury: str

    @property
    def addresses(self) -> dict[str, str]:
        return {
            "aave_pool_addresses_provider": self.provider.address,
            "aave_pool": self.pool.address,
            "aave_pool_configurator": self.configurator.address,
            "aave_oracle": self.oracle.address,
            "aave_data_provider": self.data_provider.address,
            "aave_acl_manager": self.acl.address,
        }


class AaveDeployer:
    """Sends the deployment transactions from `admin` (pool admin, risk admin, asset listing admin)."""

    def __init__(self, w3: Web3, admin: str, *, gas: int = 15_000_000) -> None:
        self.w3 = w3
        self.admin = admin
        self.gas = gas
        # Given gas and price: web3 neither estimates nor reads blocks for fees (see deploy.tx_defaults).
        self.defaults: dict[str, Any] = {"gas": gas, "gasPrice": 2 * int(w3.eth.gas_price)}
        self.libraries: dict[str, str] = {}

    def _wait(self, tx: Any, what: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"{what} reverted")
        return receipt

    def deploy(self, name: str, *args: Any) -> Contract:
        art = aave_artifact(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=link(art, self.libraries))
        receipt = self._wait(factory.constructor(*args).transact({"from": self.admin, **self.defaults}), name)
        return self.at(name, str(receipt["contractAddress"]))

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=aave_artifact(name)["abi"])

    def send(self, fn: Any) -> Any:
        return self._wait(fn.transact({"from": self.admin, **self.defaults}), fn.fn_name)

    def deploy_market(self, treasury: str) -> AaveMarket:
        provider = self.deploy("PoolAddressesProvider", MARKET_ID, self.admin)
        self.send(provider.functions.setACLAdmin(self.admin))
        acl = self.deploy("ACLManager", provider.address)
        self.send(provider.functions.setACLManager(acl.address))
        for role in ("addPoolAdmin", "addEmergencyAdmin", "addRiskAdmin", "addAssetListingAdmin"):
            self.send(getattr(acl.functions, role)(self.admin))
        data_provider = self.deploy("AaveProtocolDataProvider", provider.address)
        self.send(provider.functions.setPoolDataProvider(data_provider.address))

        # FlashLoanLogic links BorrowLogic: deploy in dependency order.
        for lib in LIBRARIES:
            self.libraries[lib] = self.deploy(lib).address
        pool_impl = self.deploy("Pool", provider.address)
        self.send(pool_impl.functions.initialize(provider.address))
        self.send(provider.functions.setPoolImpl(pool_impl.address))
        pool = self.at("Pool", provider.functions.getPool().call())

        self.libraries["ConfiguratorLogic"] = self.deploy("ConfiguratorLogic").address
        configurator_impl = self.deploy("PoolConfigurator")
        self.send(configurator_impl.functions.initialize(provider.address))
        self.send(provider.functions.setPoolConfiguratorImpl(configurator_impl.address))
        configurator = self.at("PoolConfigurator", provider.functions.getPoolConfigurator().call())

        zero = "0x0000000000000000000000000000000000000000"
        oracle = self.deploy("AaveOracle", provider.address, [], [], zero, zero, BASE_CURRENCY_UNIT)
        self.send(provider.functions.setPriceOracle(oracle.address))

        impls = {
            name: str(self.deploy(name, pool.address).address)
            for name in ("AToken", "VariableDebtToken", "StableDebtToken")
        }
        return AaveMarket(provider, pool, configurator, oracle, data_provider, acl, impls, treasury)

    def list_reserves(self, market: AaveMarket, reserves: list[ReserveConfig], emodes: list[EModeCategory]) -> None:
        """Initialize reserves and configure them as a governance payload would."""
        zero = "0x0000000000000000000000000000000000000000"
        self.send(
            market.oracle.functions.setAssetSources(
                [Web3.to_checksum_address(r.address) for r in reserves],
                [Web3.to_checksum_address(r.feed) for r in reserves],
            )
        )
        inputs = []
        for r in reserves:
            s = r.strategy
            strategy = self.deploy(
                "DefaultReserveInterestRateStrategy",
                market.provider.address,
                s.optimal_usage,
                s.base_variable,
                s.variable_slope1,
                s.variable_slope2,
                s.stable_slope1,
                s.stable_slope2,
                s.base_stable_offset,
                s.stable_excess_offset,
                s.optimal_stable_to_total,
            )
            inputs.append(
                (
                    market.implementations["AToken"],
                    market.implementations["StableDebtToken"],
                    market.implementations["VariableDebtToken"],
                    r.decimals,
                    strategy.address,
                    Web3.to_checksum_address(r.address),
                    market.treasury,
                    zero,
                    f"Aave Devnet {r.symbol}",
                    f"aDev{r.symbol}",
                    f"Aave Devnet Variable Debt {r.symbol}",
                    f"variableDebtDev{r.symbol}",
                    f"Aave Devnet Stable Debt {r.symbol}",
                    f"stableDebtDev{r.symbol}",
                    b"",
                )
            )
        for i in range(0, len(inputs), 4):  # 3 proxies per reserve: keep each transaction under 15M gas
            self.send(market.configurator.functions.initReserves(inputs[i : i + 4]))
        cfg = market.configurator.functions
        for e in emodes:
            self.send(cfg.setEModeCategory(e.id, e.ltv, e.liquidation_threshold, e.liquidation_bonus, zero, e.label))
        for r in reserves:
            asset = Web3.to_checksum_address(r.address)
            if r.liquidation_threshold:
                self.send(cfg.configureReserveAsCollateral(asset, r.ltv, r.liquidation_threshold, r.liquidation_bonus))
            if r.borrowable:
                self.send(cfg.setReserveBorrowing(asset, True))
            self.send(cfg.setReserveFactor(asset, r.reserve_factor))
            if r.supply_cap:
                self.send(cfg.setSupplyCap(asset, r.supply_cap))
            if r.borrow_cap:
                self.send(cfg.setBorrowCap(asset, r.borrow_cap))
            if r.emode_category:
                self.send(cfg.setAssetEModeCategory(asset, r.emode_category))


def errors_source() -> str:
    """Aave v3.0's Errors.sol as published in `@aave/core-v3` (the source is in the package)."""
    return (CORE_V3 / "contracts" / "protocol" / "libraries" / "helpers" / "Errors.sol").read_text()


def published_abi(name: str) -> list[dict[str, Any]]:
    abi: list[dict[str, Any]] = aave_artifact(name)["abi"]
    return abi


__all__ = [
    "AaveDeployer",
    "AaveMarket",
    "EModeCategory",
    "RateStrategy",
    "ReserveConfig",
    "aave_artifact",
    "core_v3_version",
    "errors_source",
    "link",
    "published_abi",
]
