"""Aave reserves discovered from the registry's roots on the in-process devnet (real Aave bytecode)."""

from __future__ import annotations

from decimal import Decimal

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, CallResult
from tidewatch.protocols import aave
from tidewatch.protocols.discovery import DiscoveryCache, discover, read_markets_discovered, read_positions_discovered
from tidewatch.protocols.positions import get_positions, positions_cache
from tidewatch.protocols.registry import AaveV3Market, ChainRegistry
from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.aave_v3 import AaveDeployer, AaveMarket, RateStrategy, ReserveConfig
from tidewatch_local.devnet.deploy import _Chain

from .conftest import InProcessDevnet


def only_roots(devnet: InProcessDevnet) -> ChainRegistry:
    """The devnet chain with its roots and no listed market: everything must be discovered."""
    return devnet.registry.chains[0].with_markets(())


def test_every_reserve_is_discovered_from_the_pool_with_its_configuration(devnet: InProcessDevnet) -> None:
    # Given a registry chain that lists only the Aave root (PoolAddressesProvider, Pool, data provider, oracle)
    chain = only_roots(devnet)
    client, transport = devnet.client()
    # When the markets are discovered
    found = discover(client, chain, DiscoveryCache())
    # Then every reserve of the Pool is a market, with on-chain symbol and decimals, in 2 round trips
    assert client.round_trips == 2 == transport.requests
    assert found.failures == []
    markets = [m for m in found.chain.markets if isinstance(m, AaveV3Market)]
    assert [m.asset.symbol for m in markets] == [r.symbol for r in scenario.AAVE_RESERVES]
    assert {m.asset.symbol: m.asset.decimals for m in markets} == {
        r.symbol: scenario.TOKENS[r.symbol].decimals for r in scenario.AAVE_RESERVES
    }
    # And the configuration governance set: thresholds, caps, the eMode category
    (instance,) = found.instances.values()
    by_symbol = {m.asset.symbol: instance["reserves"][m.asset.address.lower()] for m in markets}
    for r in scenario.AAVE_RESERVES:
        cfg = by_symbol[r.symbol]
        assert (cfg["ltv"], cfg["liquidation_threshold"], cfg["liquidation_bonus"]) == (
            r.ltv,
            r.liquidation_threshold,
            r.liquidation_bonus,
        )
        assert (cfg["supply_cap"], cfg["borrow_cap"]) == (r.supply_cap, r.borrow_cap)
        assert cfg["emode_category"] == r.emode_category
    assert instance["emode_categories"] == {
        1: {"ltv": 9300, "liquidation_threshold": 9500, "liquidation_bonus": 10100, "label": "ETH correlated"}
    }


def test_a_warm_tick_costs_two_round_trips_and_a_new_reserve_is_picked_up(devnet: InProcessDevnet) -> None:
    # Given a warm discovery cache
    chain = only_roots(devnet)
    cache = DiscoveryCache()
    client, _ = devnet.client()
    read_markets_discovered(client, chain, cache)
    # When a tick runs with nothing changed
    client, transport = devnet.client()
    read, found = read_markets_discovered(client, chain, cache)
    # Then it is the market read's 2 round trips (the reserves-list check rides in the first)
    assert client.round_trips == 2 == transport.requests
    assert found.discovered == []
    assert len(read.snapshots) == len(scenario.AAVE_RESERVES)

    # When governance lists a new reserve
    snapshot = devnet.snapshot()
    try:
        deployer = devnet.deployment.operators["deployer"]
        lister = AaveDeployer(devnet.w3, deployer)
        c = devnet.deployment.contracts
        market = AaveMarket(
            provider=lister.at("PoolAddressesProvider", c["aave_pool_addresses_provider"]),
            pool=lister.at("Pool", c["aave_pool"]),
            configurator=lister.at("PoolConfigurator", c["aave_pool_configurator"]),
            oracle=lister.at("AaveOracle", c["aave_oracle"]),
            data_provider=lister.at("AaveProtocolDataProvider", c["aave_data_provider"]),
            acl=lister.at("ACLManager", c["aave_acl_manager"]),
            implementations={
                "AToken": lister.at("AToken", _token_impl(devnet, 0)).address,
                "StableDebtToken": lister.at("StableDebtToken", _token_impl(devnet, 1)).address,
                "VariableDebtToken": lister.at("VariableDebtToken", _token_impl(devnet, 2)).address,
            },
            treasury=deployer,
        )
        strategy = RateStrategy(scenario.ray("0.8"), 0, scenario.ray("0.03"), scenario.ray("0.8"))
        feed = devnet.deployment.feeds["stETH"]
        # ... and two tokens with odd metadata: MKR-style bytes32 symbol, and a reverting symbol()
        mkr = _deploy(devnet, "DevTokenBytes32Symbol", b"MKR".ljust(32, b"\0"), 18)
        odd = _deploy(devnet, "DevTokenRevertingSymbol", 8)
        lister.list_reserves(
            market,
            [
                ReserveConfig("stETH", devnet.deployment.tokens["stETH"], 18, feed, 7000, 7500, 10700, 1500, strategy),
                ReserveConfig("MKR", mkr, 18, feed, 6500, 7000, 10800, 2000, strategy),
                ReserveConfig("ODD", odd, 8, feed, 0, 0, 0, 1000, strategy),
            ],
            [],
        )
        client, transport = devnet.client()
        read, found = read_markets_discovered(client, chain, cache)
        # Then the tick sees the reserves list change, rediscovers and reads the new market too
        assert [k[2] for k in found.discovered] == ["core"]
        steth = [s for s in read.snapshots if s.asset_symbol == "stETH"]
        assert len(steth) == 1
        assert steth[0].params["liquidation_threshold"] == Decimal("0.75")
        assert client.round_trips == 6  # read + rediscovery + the new markets' read
        # And the bytes32 symbol reads as "MKR"; the reverting one is listed under a placeholder
        # with decimals from the Pool's configuration, and reported in the tick's failures
        symbols = {s.asset_address.lower(): (s.asset_symbol, s.asset_decimals) for s in read.snapshots}
        assert symbols[mkr.lower()] == ("MKR", 18)
        assert symbols[odd.lower()] == (f"{odd[:6]}…{odd[-4:]}", 8)
        assert [f.market_key for f in read.failures] == [odd]
        assert "symbol() unreadable" in read.failures[0].error
    finally:
        devnet.revert(snapshot)


def _deploy(devnet: InProcessDevnet, name: str, *args: object) -> str:
    chain = _Chain(devnet.w3)
    return str(chain.deploy(name, *args, sender=devnet.deployment.operators["deployer"]).address)


def _token_impl(devnet: InProcessDevnet, index: int) -> str:
    """The token implementations behind the USDC reserve's proxies (same as for every reserve)."""
    lister = AaveDeployer(devnet.w3, devnet.deployment.operators["deployer"])
    dp = lister.at("AaveProtocolDataProvider", devnet.deployment.contracts["aave_data_provider"])
    proxy = dp.functions.getReserveTokensAddresses(devnet.deployment.tokens["USDC"]).call()[index]
    slot = int("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc", 16)  # EIP-1967
    raw = devnet.w3.eth.get_storage_at(proxy, slot)
    return "0x" + bytes(raw)[-20:].hex()


def ok(*values: object) -> CallResult:
    return CallResult(True, tuple(values))


FAILED = CallResult(False, error="symbol reverted")


def test_token_symbols_tolerate_bytes32_and_reverting_tokens() -> None:
    token = "0x9f8F72aA9304c8B593d555F12eF6589cC3A579A2"
    # MKR's symbol() returns bytes32: the string decode fails, the bytes32 one holds "MKR"
    assert aave.token_symbol(FAILED, ok(b"MKR".ljust(32, b"\0")), token) == ("MKR", None)
    assert aave.token_symbol(ok("USDC"), ok(b"\0" * 32), token) == ("USDC", None)
    # A token whose symbol() reverts keeps a readable placeholder and a warning
    symbol, warning = aave.token_symbol(FAILED, FAILED, token)
    assert symbol == "0x9f8F…79A2"
    assert warning is not None
    assert "symbol() unreadable" in warning


def test_a_reserve_whose_configuration_reverts_fails_alone(devnet: InProcessDevnet) -> None:
    # Given the discovery plan of the devnet root and a reserves list where the 2nd reserve's reads fail
    root = devnet.registry.chains[0].roots[0]
    plan = aave.discovery_plan(1, root)
    usdc, dai = devnet.deployment.tokens["USDC"], devnet.deployment.tokens["DAI"]
    pre = [ok([usdc, dai])]
    config = (18 << 48) | (8000 << 16) | 7500
    results = [ok("USDC"), ok(b"USDC".ljust(32, b"\0")), ok((config,))]
    results += [FAILED, FAILED, CallResult(False, error="getConfiguration reverted")]
    results += [CallResult(False, error="no category")] * aave.EMODE_CATEGORIES_READ
    # When it is built
    found = plan.build(pre, results, BlockRef(7, 0))
    # Then USDC is a market and DAI is reported as a failure, not guessed
    assert [m.asset.symbol for m in found.markets] == ["USDC"]
    assert found.markets[0].asset.decimals == 18
    assert [(f.market_key, f.error) for f in found.failures] == [(dai, "getConfiguration reverted")]
    # (the bytes32 read is the same call, decoded the other way)
    assert abi.ERC20_SYMBOL_BYTES32.selector == abi.ERC20_SYMBOL.selector


def test_positions_list_every_reserve_held_even_when_only_roots_are_registered(devnet: InProcessDevnet) -> None:
    # Given a registry chain with the Aave root and no listed Aave market
    chain = only_roots(devnet)
    registry = devnet.registry.model_copy(update={"chains": (chain,)})
    client, _ = devnet.client()
    bob = next(u.address for u in devnet.registry.users if u.label == "bob-near-liquidation")
    # When bob's positions are read with discovery
    view = get_positions(
        bob,
        registry=registry,
        clients={chain.chain_id: client},
        cache=positions_cache(None),
        discovery=DiscoveryCache(),
    )
    # Then his Aave WETH collateral and USDC debt are there, from discovered reserves
    (chain_view,) = view.chains
    (position,) = [p for p in chain_view.positions if p.protocol == "aave-v3"]
    assert [t.symbol for t in position.supplied] == ["WETH"]
    assert [t.symbol for t in position.borrowed] == ["USDC"]
    assert position.supplied[0].liquidation_threshold == Decimal("0.83")


def test_a_warm_positions_read_costs_two_round_trips(devnet: InProcessDevnet) -> None:
    # Given a warm discovery cache and a roots-only chain
    chain = only_roots(devnet)
    cache = DiscoveryCache()
    bob = next(u.address for u in devnet.registry.users if u.label == "bob-near-liquidation")
    client, _ = devnet.client()
    read_positions_discovered(client, chain, cache, [bob])
    # When bob's positions are read again
    client, transport = devnet.client()
    result = read_positions_discovered(client, chain, cache, [bob])
    # Then the reserves-list check rode along: 2 round trips, his Aave position is there
    assert client.round_trips == 2 == transport.requests
    assert [p.protocol for p in result.positions if p.protocol == "aave-v3"] == ["aave-v3"]
