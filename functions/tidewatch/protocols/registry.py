"""The market registry: which contracts to read on which chain.

`load_registry("mainnet")` gives the real Ethereum + Base deployments (sources in
docs/protocols.md); `load_registry(path)` loads a registry JSON written by the devnet deployer.
The same adapters read both: only addresses and RPC URLs differ.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tidewatch.errors import NotFound

_HERE = Path(__file__).parent
_BUILTIN = {"mainnet": _HERE / "registry_mainnet.json"}
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"

Address = Annotated[str, Field(pattern=_ADDRESS)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Asset(_Frozen):
    symbol: str
    address: Address
    decimals: int = Field(ge=0, le=36)
    # The token refuses approve() from a non-zero allowance to another non-zero value (USDT):
    # an allowance change goes through approve(0) first.
    approve_reset: bool = False


class AaveV3Market(_Frozen):
    protocol: Literal["aave-v3"] = "aave-v3"
    pool: Address
    data_provider: Address  # AaveProtocolDataProvider
    oracle: Address  # AaveOracle (USD, 8 decimals)
    asset: Asset
    instance: str = "core"  # the registry root it belongs to (core, prime, etherfi, ...)

    @property
    def key(self) -> str:
        return self.asset.address


Numeraire = Literal["USD", "ETH", "BTC", "wstETH"]


class CompoundV3Market(_Frozen):
    """A Comet proxy (the root); its collaterals, feeds and factors are discovered on chain.

    `numeraire` is the unit `Comet.getPrice` answers in (USD markets; ETH for the WETH markets,
    whose base feed is a constant 1e8 and collateral feeds X/ETH; wstETH, BTC likewise).
    `usd_reference` is a Chainlink AggregatorV3 on the same chain pricing one numéraire unit in
    USD; without it a non-USD market's values are flagged, never shown as USD.
    """

    protocol: Literal["compound-v3"] = "compound-v3"
    comet: Address
    asset: Asset  # the base asset (immutable in Comet; checked against baseToken() on read)
    collaterals: tuple[Asset, ...] = ()  # optional hints for intents; reads use getAssetInfo
    name: str = ""  # "cUSDCv3"
    numeraire: Numeraire = "USD"
    usd_reference: Address | None = None
    source: str = ""

    @property
    def key(self) -> str:
        return self.comet


class EigenLayerMarket(_Frozen):
    protocol: Literal["eigenlayer"] = "eigenlayer"
    strategy_manager: Address
    strategy: Address
    asset: Asset  # the strategy's underlying token (ETH for beacon-chain ETH)
    price_oracle: Address | None = None  # an AaveOracle that prices the underlying, if any
    price_asset: Address | None = None  # the asset the oracle prices instead (WETH for ETH)
    # DelegationManager (slashing release): withdrawable shares and queued withdrawals.
    delegation_manager: Address | None = None
    # "beacon": the beaconChainETHStrategy pseudo-address of EigenPods (1 share = 1 wei).
    kind: Literal["strategy", "beacon"] = "strategy"

    @property
    def key(self) -> str:
        return self.strategy


Market = Annotated[AaveV3Market | CompoundV3Market | EigenLayerMarket, Field(discriminator="protocol")]


class Root(_Frozen):
    """One protocol instance on one chain, named by the contracts its markets are discovered from.

    `contracts` are role -> address, the roles being the adapter's (Aave: `pool_addresses_provider`,
    `pool`, `data_provider`, `oracle`; Compound v3: `comet`; EigenLayer: `strategy_manager`, ...).
    `source` names where the addresses come from (e.g. "aave-address-book AaveV3Ethereum").
    """

    protocol: str
    instance: str  # "core", "prime", "etherfi", "cUSDCv3", ...
    contracts: dict[str, Address]
    source: str = ""

    def contract(self, role: str) -> str:
        try:
            return self.contracts[role]
        except KeyError:
            raise NotFound(f"root {self.protocol}:{self.instance} has no {role} contract") from None


class ChainRegistry(_Frozen):
    chain_id: int
    name: str
    multicall3: Address
    roots: tuple[Root, ...] = ()  # instances whose markets are discovered on chain
    markets: tuple[Market, ...] = ()  # markets listed (or, after discovery, found) on this chain

    def with_markets(self, markets: tuple[Market, ...]) -> ChainRegistry:
        return self.model_copy(update={"markets": markets})

    def market(self, protocol: str, key: str) -> Market:
        for m in self.markets:
            if m.protocol == protocol and m.key.lower() == key.lower():
                return m
        raise NotFound(f"no {protocol} market {key} on chain {self.chain_id}")


class SeededUser(_Frozen):
    """A devnet account with a seeded position (never present in the mainnet registry)."""

    label: str
    address: Address
    private_key: str


class Registry(_Frozen):
    name: str
    chains: tuple[ChainRegistry, ...]
    users: tuple[SeededUser, ...] = ()
    contracts: dict[str, Address] = Field(default_factory=dict)  # devnet: named deployments

    @field_validator("chains")
    @classmethod
    def _unique_chains(cls, chains: tuple[ChainRegistry, ...]) -> tuple[ChainRegistry, ...]:
        ids = [c.chain_id for c in chains]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate chain id")
        return chains

    def chain(self, chain_id: int) -> ChainRegistry:
        for c in self.chains:
            if c.chain_id == chain_id:
                return c
        raise NotFound(f"chain {chain_id} is not in registry {self.name!r}")

    @property
    def chain_ids(self) -> list[int]:
        return [c.chain_id for c in self.chains]


def load_registry(name_or_path: str | Path) -> Registry:
    """The built-in registry by name ("mainnet") or a registry JSON file by path."""
    path = _BUILTIN.get(str(name_or_path), Path(name_or_path))
    return _load(str(Path(path).resolve()), Path(path).stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int) -> Registry:
    return Registry.model_validate(json.loads(Path(path).read_text()))
