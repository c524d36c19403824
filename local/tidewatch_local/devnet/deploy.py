"""Deploy the devnet contracts and seed a realistic world (see scenario.py) through web3.

Works against any JSON-RPC node with unlocked accounts (anvil over HTTP in the local run and
the tests). Operators (deployer, liquidity provider, whale borrower, simulator) are the node's
unlocked accounts; seeded users are deterministic keys that sign their own transactions, so the
wallet work can sign with them too. Writes a registry JSON that `load_registry(path)` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import RPCEndpoint, Wei

from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.aave_v3 import AaveDeployer, AaveMarket, EModeCategory, RateStrategy, ReserveConfig
from tidewatch_local.devnet.artifacts import artifact

MAX_UINT = 2**256 - 1
USER_ETH = 100 * 10**18
BEACON_CHAIN_ETH_STRATEGY = (
    "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0"  # EigenLayer's beacon-chain ETH pseudo-strategy
)
NATIVE_ETH = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"


@dataclass
class Deployment:
    """What was deployed: the registry JSON (dict), its path, named contracts and seeded users."""

    registry: dict[str, Any]
    contracts: dict[str, str]
    tokens: dict[str, str]
    feeds: dict[str, str]
    users: dict[str, dict[str, str]]  # label -> {"address", "private_key"}
    operators: dict[str, str]  # role -> unlocked node account
    path: Path | None = None
    chain_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def connect(rpc: str | Web3) -> Web3:
    if isinstance(rpc, Web3):
        return rpc
    # web3 checks the chain id before every transaction; a node's chain id never changes.
    provider = Web3.HTTPProvider(
        rpc,
        request_kwargs={"timeout": 60},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    return Web3(provider)


TX_GAS = 15_000_000  # above every devnet deployment and seeding transaction (Aave's Pool included)


def tx_defaults(w3: Web3) -> dict[str, Any]:
    """Gas and price of the devnet's set-up transactions, given so web3 neither estimates gas nor
    reads blocks for fees before each one (the set-up is a few hundred transactions). The price is
    twice the node's at the start: the devnet's blocks stay far below their gas target, so the base
    fee only falls from there."""
    return {"gas": TX_GAS, "gasPrice": 2 * int(w3.eth.gas_price)}


def user_account(label: str) -> LocalAccount:
    """A devnet-only deterministic key per seeded user (public knowledge: never use on mainnet)."""
    key: LocalAccount = Account.from_key(keccak(text=f"tidewatch-devnet:{label}"))
    return key


class _Chain:
    """Small transaction helpers over web3 (every transaction waits for its receipt)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.defaults = tx_defaults(w3)

    def deploy(self, name: str, *args: Any, sender: str) -> Contract:
        art = artifact(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = factory.constructor(*args).transact({"from": sender, **self.defaults})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"deploying {name} failed")
        return self.at(name, str(receipt["contractAddress"]))

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])

    def send(self, fn: Any, sender: str) -> Any:
        tx = fn.transact({"from": sender, **self.defaults})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {fn.fn_name} from {sender} reverted")
        return receipt


def deploy_and_seed(
    rpc: str | Web3,
    *,
    registry_path: Path | str | None = None,
    extra_aave_reserves: int = 0,
) -> Deployment:
    """Deploy everything, seed liquidity and user positions, and write the registry JSON.

    `extra_aave_reserves` lists that many more Aave reserves (fresh $1 tokens with supply)
    so benchmarks and tests can grow the market count.
    """
    w3 = connect(rpc)
    chain = _Chain(w3)
    accounts = list(w3.eth.accounts)
    deployer, provider, whale, simulator = accounts[0], accounts[1], accounts[2], accounts[3]
    chain_id = w3.eth.chain_id
    c: dict[str, str] = {}

    multicall = chain.deploy("Multicall3", sender=deployer)
    c["multicall3"] = multicall.address

    tokens: dict[str, Contract] = {}
    feeds: dict[str, Contract] = {}
    for sym, t in scenario.TOKENS.items():
        kind = {"tether": "DevTetherToken", "rebasing": "DevRebasingToken"}.get(t.kind, "DevToken")
        tokens[sym] = chain.deploy(kind, _token_name(sym), sym, t.decimals, sender=deployer)
        feeds[sym] = chain.deploy("DevPriceFeed", f"{sym} / USD", t.price_e8, sender=deployer)

    # Aave v3: the published bytecode (@aave/core-v3), configured as governance does.
    aave = AaveDeployer(w3, deployer)
    aave_market = aave.deploy_market(treasury=accounts[4] if len(accounts) > 4 else deployer)
    aave.list_reserves(
        aave_market,
        [_reserve_config(r, tokens[r.symbol].address, feeds[r.symbol].address) for r in scenario.AAVE_RESERVES],
        [
            EModeCategory(e.id, e.ltv, e.liquidation_threshold, e.liquidation_bonus, e.label)
            for e in scenario.AAVE_EMODES
        ],
    )
    pool, oracle, data_provider = aave_market.pool, aave_market.oracle, aave_market.data_provider
    # Sources for every devnet token (EigenLayer's LSTs are priced through this oracle too).
    aave.send(
        oracle.functions.setAssetSources(
            [tokens[s].address for s in scenario.TOKENS], [feeds[s].address for s in scenario.TOKENS]
        )
    )
    c.update(aave_market.addresses)
    # Compound III
    comets, comet_feeds = _deploy_comets(chain, tokens, feeds, deployer)
    c.update({f"comet_{name}": comet.address for name, comet in comets.items()})
    c.update(comet_feeds)

    # EigenLayer (slashing release): StrategyManager, DelegationManager, EigenPodManager.
    manager = chain.deploy("StrategyManager", sender=deployer)
    pods = chain.deploy("EigenPodManager", sender=deployer)
    delegation = chain.deploy(
        "DelegationManager", manager.address, pods.address, scenario.EIGEN_MIN_WITHDRAWAL_DELAY_BLOCKS, sender=deployer
    )
    chain.send(manager.functions.setDelegationManager(delegation.address), deployer)
    chain.send(pods.functions.setDelegationManager(delegation.address), deployer)
    operator = accounts[4]
    chain.send(delegation.functions.registerAsOperator(operator, 0, "devnet-operator"), operator)
    strategies = {
        s: chain.deploy("StrategyBase", manager.address, tokens[s].address, sender=deployer)
        for s in scenario.EIGEN_STRATEGIES
    }
    chain.send(manager.functions.addStrategiesToDepositWhitelist([s.address for s in strategies.values()]), deployer)
    c["eigen_strategy_manager"] = manager.address
    c["eigen_delegation_manager"] = delegation.address
    c["eigen_pod_manager"] = pods.address
    c.update({f"eigen_strategy_{s}": st.address for s, st in strategies.items()})

    def mint(sym: str, to: str, amount: int) -> None:
        chain.send(tokens[sym].functions.mint(to, amount), deployer)

    def u(sym: str, amount: int | str) -> int:
        return scenario.units(amount, scenario.TOKENS[sym].decimals)

    # Operators' liquidity (approvals once, unlimited).
    aave_symbols = {r.symbol for r in scenario.AAVE_RESERVES}
    for sym, token in tokens.items():
        spenders = [pool.address] if sym in aave_symbols else []
        spenders += [manager.address] if sym in scenario.EIGEN_STRATEGIES else []
        spenders += [
            comets[m.name].address
            for m in scenario.COMET_MARKETS
            if sym == m.base or sym in {col.symbol for col in m.collaterals}
        ]
        for op in (provider, whale, simulator):
            mint(sym, op, u(sym, 10**9))
            for spender in spenders:
                chain.send(token.functions.approve(spender, MAX_UINT), op)
    for sym, amount in scenario.AAVE_LIQUIDITY.items():
        chain.send(pool.functions.supply(tokens[sym].address, u(sym, amount), provider, 0), provider)
    for sym, amount in scenario.WHALE_AAVE_COLLATERAL.items():
        chain.send(pool.functions.supply(tokens[sym].address, u(sym, amount), whale, 0), whale)
    for sym, amount in scenario.AAVE_WHALE_BORROWS.items():
        chain.send(pool.functions.borrow(tokens[sym].address, u(sym, amount), 2, 0, whale), whale)
    for m in scenario.COMET_MARKETS:
        comet = comets[m.name]
        chain.send(
            comet.functions.supply(tokens[m.base].address, u(m.base, scenario.COMET_LIQUIDITY[m.name])), provider
        )
        for sym, amount in scenario.COMET_WHALE_COLLATERAL[m.name].items():
            chain.send(comet.functions.supply(tokens[sym].address, u(sym, amount)), whale)
        chain.send(
            comet.functions.withdraw(tokens[m.base].address, u(m.base, scenario.COMET_WHALE_BORROWS[m.name])), whale
        )
    for sym, amount in scenario.EIGEN_LIQUIDITY.items():
        chain.send(
            manager.functions.depositIntoStrategy(strategies[sym].address, tokens[sym].address, u(sym, amount)),
            provider,
        )

    # Seeded users sign their own transactions.
    users: dict[str, dict[str, str]] = {}
    signers = [user_account(s.label) for s in scenario.USERS]
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(signers), layer=0)
    for seed, acct in zip(scenario.USERS, signers, strict=True):
        users[seed.label] = {"address": acct.address, "private_key": "0x" + bytes(acct.key).hex()}
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": deployer, "to": acct.address, "value": Wei(USER_ETH)})
        )
        needs: dict[str, int] = {}
        for sym, amount in seed.wallet.items():
            needs[sym] = needs.get(sym, 0) + u(sym, amount)
        for sym, amount in seed.aave_supply.items():
            needs[sym] = needs.get(sym, 0) + u(sym, amount)
        for assets in seed.comet_supply.values():
            for sym, amount in assets.items():
                needs[sym] = needs.get(sym, 0) + u(sym, amount)
        for sym, amount in seed.eigen_deposits.items():
            needs[sym] = needs.get(sym, 0) + u(sym, amount)
        for sym, amount in needs.items():
            mint(sym, acct.address, amount)
        if seed.aave_emode:
            chain.send(pool.functions.setUserEMode(seed.aave_emode), acct.address)
        for sym, amount in seed.aave_supply.items():
            chain.send(tokens[sym].functions.approve(pool.address, u(sym, amount)), acct.address)
            chain.send(pool.functions.supply(tokens[sym].address, u(sym, amount), acct.address, 0), acct.address)
        for sym, amount in seed.aave_borrow.items():
            chain.send(pool.functions.borrow(tokens[sym].address, u(sym, amount), 2, 0, acct.address), acct.address)
        for market, assets in seed.comet_supply.items():
            for sym, amount in assets.items():
                chain.send(tokens[sym].functions.approve(comets[market].address, u(sym, amount)), acct.address)
                chain.send(comets[market].functions.supply(tokens[sym].address, u(sym, amount)), acct.address)
        for market, amount in seed.comet_borrow.items():
            base = next(m.base for m in scenario.COMET_MARKETS if m.name == market)
            chain.send(comets[market].functions.withdraw(tokens[base].address, u(base, amount)), acct.address)
        if seed.eigen_operator:
            chain.send(delegation.functions.delegateTo(operator, (b"", 0), b"\x00" * 32), acct.address)
        if seed.beacon_eth:
            chain.send(pods.functions.recordBeaconChainETHDeposit(acct.address, seed.beacon_eth * 10**18), deployer)
        for sym, amount in seed.eigen_deposits.items():
            chain.send(tokens[sym].functions.approve(manager.address, u(sym, amount)), acct.address)
            chain.send(
                manager.functions.depositIntoStrategy(strategies[sym].address, tokens[sym].address, u(sym, amount)),
                acct.address,
            )

    extra_assets = _list_extra_reserves(chain, aave, aave_market, extra_aave_reserves, deployer, provider)

    asset = {
        s: {"symbol": s, "address": tokens[s].address, "decimals": t.decimals}
        | ({"approve_reset": True} if t.kind == "tether" else {})
        for s, t in scenario.TOKENS.items()
    }
    markets: list[dict[str, Any]] = [
        {
            "protocol": "aave-v3",
            "pool": pool.address,
            "data_provider": data_provider.address,
            "oracle": oracle.address,
            "asset": asset[r.symbol],
        }
        for r in scenario.AAVE_RESERVES
    ]
    markets += [
        {
            "protocol": "aave-v3",
            "pool": pool.address,
            "data_provider": data_provider.address,
            "oracle": oracle.address,
            "asset": a,
        }
        for a in extra_assets
    ]
    markets += [
        {
            "protocol": "compound-v3",
            "comet": comets[m.name].address,
            "name": m.name,
            "asset": asset[m.base],
            # Only the hinted collaterals are named (intents resolve them); reads discover all.
            "collaterals": [asset[sym] for sym in m.hinted],
            "numeraire": m.numeraire,
            "usd_reference": feeds["WETH"].address if m.numeraire == "ETH" else None,
            "source": "devnet",
        }
        for m in scenario.COMET_MARKETS
    ]
    markets += [
        {
            "protocol": "eigenlayer",
            "strategy_manager": manager.address,
            "strategy": strategies[s].address,
            "asset": asset[s],
            "price_oracle": oracle.address,
            "delegation_manager": delegation.address,
        }
        for s in scenario.EIGEN_STRATEGIES
    ]
    markets.append(
        {
            "protocol": "eigenlayer",
            "kind": "beacon",
            "strategy_manager": manager.address,
            "strategy": BEACON_CHAIN_ETH_STRATEGY,
            "asset": {"symbol": "ETH", "address": NATIVE_ETH, "decimals": 18},
            "price_oracle": oracle.address,
            "price_asset": tokens["WETH"].address,
            "delegation_manager": delegation.address,
        }
    )
    token_addresses = {s: str(t.address) for s, t in tokens.items()}
    feed_addresses = {s: str(f.address) for s, f in feeds.items()}
    registry = {
        "name": "devnet",
        "chains": [
            {
                "chain_id": chain_id,
                "name": f"Devnet (chain {chain_id})",
                "multicall3": multicall.address,
                "roots": [
                    {
                        "protocol": "aave-v3",
                        "instance": "core",
                        "source": "devnet deployment (@aave/core-v3 bytecode)",
                        "contracts": {
                            "pool_addresses_provider": c["aave_pool_addresses_provider"],
                            "pool": pool.address,
                            "data_provider": data_provider.address,
                            "oracle": oracle.address,
                        },
                    }
                ],
                "markets": markets,
            }
        ],
        "users": [{"label": label, **info} for label, info in users.items()],
        "contracts": {
            **c,
            **{f"token_{s}": a for s, a in token_addresses.items()},
            **{f"feed_{s}": a for s, a in feed_addresses.items()},
        },
    }
    path = Path(registry_path) if registry_path else None
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(registry, indent=1) + "\n")
    return Deployment(
        registry=registry,
        contracts=c,
        tokens=token_addresses,
        feeds=feed_addresses,
        users=users,
        operators={"deployer": deployer, "provider": provider, "whale": whale, "simulator": simulator},
        path=path,
        chain_id=chain_id,
    )


def _reserve_config(r: scenario.AaveReserve, token: str, feed: str) -> ReserveConfig:
    return ReserveConfig(
        symbol=r.symbol,
        address=token,
        decimals=scenario.TOKENS[r.symbol].decimals,
        feed=feed,
        ltv=r.ltv,
        liquidation_threshold=r.liquidation_threshold,
        liquidation_bonus=r.liquidation_bonus,
        reserve_factor=r.reserve_factor,
        strategy=RateStrategy(r.optimal, r.base_rate, r.slope1, r.slope2),
        supply_cap=r.supply_cap,
        borrow_cap=r.borrow_cap,
        emode_category=r.emode_category,
    )


def _deploy_comets(
    chain: _Chain, tokens: dict[str, Contract], feeds: dict[str, Contract], deployer: str
) -> tuple[dict[str, Contract], dict[str, str]]:
    """One Comet per scenario market, its collaterals listed as governance does. USD markets
    read the tokens' USD feeds; ETH markets a constant 1e8 base feed and X/ETH ratio feeds."""
    comets: dict[str, Contract] = {}
    named: dict[str, str] = {}
    constant = None
    ratio: dict[str, Contract] = {}
    for m in scenario.COMET_MARKETS:
        base_decimals = scenario.TOKENS[m.base].decimals
        if m.numeraire == "USD":
            base_feed = feeds[m.base].address
        else:
            if constant is None:
                constant = chain.deploy("ConstantPriceFeed", 8, 10**8, sender=deployer)
                named["feed_constant_1e8"] = constant.address
            base_feed = constant.address
        config = (
            tokens[m.base].address,
            base_feed,
            deployer,  # pause guardian
            *m.rates,
            m.store_front_price_factor,
            scenario.units(m.base_borrow_min, base_decimals),
            scenario.units(m.target_reserves, base_decimals),
        )
        comet = chain.deploy("Comet", config, sender=deployer)
        for col in m.collaterals:
            decimals = scenario.TOKENS[col.symbol].decimals
            if m.numeraire == "USD":
                feed = feeds[col.symbol].address
            else:
                if col.symbol not in ratio:
                    ratio[col.symbol] = chain.deploy(
                        "RatioPriceFeed",
                        feeds[col.symbol].address,
                        feeds[m.base].address,
                        f"{col.symbol} / {m.numeraire}",
                        sender=deployer,
                    )
                    named[f"feed_{col.symbol}_{m.numeraire}"] = ratio[col.symbol].address
                feed = ratio[col.symbol].address
            chain.send(
                comet.functions.addAsset(
                    tokens[col.symbol].address,
                    feed,
                    col.borrow_cf,
                    col.liquidate_cf,
                    col.liquidation_factor,
                    col.supply_cap * 10**decimals,
                ),
                deployer,
            )
        comets[m.name] = comet
    return comets, named


def _list_extra_reserves(
    chain: _Chain, aave: AaveDeployer, market: AaveMarket, n: int, deployer: str, provider: str
) -> list[dict[str, Any]]:
    """Extra 18-decimal reserves priced at $1 with 1M supplied each (benchmarks at real reserve
    counts). Aave v3 lists at most `MAX_NUMBER_RESERVES` (128) reserves per pool."""
    if n <= 0:
        return []
    room = int(market.pool.functions.MAX_NUMBER_RESERVES().call()) - len(market.pool.functions.getReservesList().call())
    if n > room:
        raise ValueError(f"an Aave v3 pool lists at most 128 reserves: {n} more do not fit (room for {room})")
    feed = chain.deploy("DevPriceFeed", "TEST / USD", 10**8, sender=deployer)
    strategy = RateStrategy(scenario.ray("0.90"), 0, scenario.ray("0.04"), scenario.ray("0.60"))
    configs = []
    for i in range(n):
        token = chain.deploy("DevToken", f"Test {i}", f"T{i}", 18, sender=deployer)
        configs.append(
            ReserveConfig(f"T{i}", token.address, 18, feed.address, 5000, 6000, 10500, 1000, strategy, borrowable=True)
        )
    aave.list_reserves(market, configs, [])
    supply = 10**24
    for cfg in configs:
        token = chain.at("DevToken", cfg.address)
        chain.send(token.functions.mint(provider, supply), deployer)
        chain.send(token.functions.approve(market.pool.address, supply), provider)
        chain.send(market.pool.functions.supply(cfg.address, supply, provider, 0), provider)
    return [{"symbol": cfg.symbol, "address": cfg.address, "decimals": 18} for cfg in configs]


def _token_name(symbol: str) -> str:
    return {
        "USDC": "USD Coin",
        "DAI": "Dai Stablecoin",
        "WETH": "Wrapped Ether",
        "WBTC": "Wrapped BTC",
        "wstETH": "Wrapped liquid staked Ether 2.0",
        "rETH": "Rocket Pool ETH",
        "cbETH": "Coinbase Wrapped Staked ETH",
        "stETH": "Liquid staked Ether 2.0",
        "USDT": "Tether USD",
        "cbBTC": "Coinbase Wrapped BTC",
        "tBTC": "tBTC v2",
        "USDe": "USDe",
        "weETH": "Wrapped eETH",
        "ezETH": "Renzo Restaked ETH",
        "LINK": "ChainLink Token",
        "UNI": "Uniswap",
        "COMP": "Compound",
        "EIGEN": "Eigen",
    }.get(symbol, symbol)
