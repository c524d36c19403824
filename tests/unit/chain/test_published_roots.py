"""The mainnet registry's Compound III and EigenLayer roots equal the protocols' published lists.

The lists are copied as data with their source named: tests/data/comet_roots.json (each market's
`deployments/<network>/<market>/roots.json` in compound-finance/comet, with the commit read) and
tests/data/eigenlayer_mainnet.json (Layr-Labs/eigenlayer-contracts README, mainnet deployments).
"""

from __future__ import annotations

import json
from pathlib import Path

from tidewatch.protocols.registry import CompoundV3Market, EigenLayerMarket, load_registry

DATA = Path(__file__).resolve().parents[2] / "data"
CHAIN_OF = {"mainnet": 1, "base": 8453}


def _comets(chain_id: int) -> dict[str, CompoundV3Market]:
    chain = load_registry("mainnet").chain(chain_id)
    return {m.comet.lower(): m for m in chain.markets if isinstance(m, CompoundV3Market)}


def test_every_published_comet_market_is_a_registry_root_and_nothing_else() -> None:
    # Given the Comet proxies of every market published in compound-finance/comet roots.json files
    published = json.loads((DATA / "comet_roots.json").read_text())
    for chain_id in (1, 8453):
        expected = {m["comet"].lower(): m for m in published["markets"] if CHAIN_OF[m["network"]] == chain_id}
        # When the registry's Compound v3 markets of that chain are listed
        listed = _comets(chain_id)
        # Then they are exactly the published markets (cUSDTv3, cwstETHv3, cUSDSv3, cWBTCv3,
        # cUSDbCv3, cAEROv3 included), each named and sourced
        assert set(listed) == set(expected)
        for key, m in listed.items():
            assert m.name == expected[key]["symbol"]
            assert m.source.endswith(f"deployments/{expected[key]['network']}/{expected[key]['market']}/roots.json")
    assert len(_comets(1)) == 6
    assert len(_comets(8453)) == 5


def test_base_tokens_numeraires_and_usd_references_are_the_published_ones() -> None:
    published = json.loads((DATA / "comet_roots.json").read_text())
    for m in published["markets"]:
        chain_id = CHAIN_OF[m["network"]]
        where = f"{m['network']}/{m['market']}"
        market = _comets(chain_id)[m["comet"].lower()]
        # the base token of configuration.json
        assert market.asset.address.lower() == published["base_tokens"][where].lower()
        # the numéraire of deploy.ts (constant 1e8 base feed) or USD
        numeraire = published["numeraires"].get(where, "USD")
        assert market.numeraire == numeraire
        # a non-USD market converts through the Chainlink reference of its chain, or is flagged
        reference = published["usd_references"].get(f"{chain_id}:{numeraire}")
        if numeraire == "USD":
            assert market.usd_reference is None
        else:
            assert (market.usd_reference or "").lower() == (reference or "").lower()
    # cwstETHv3 has no Chainlink wstETH / USD reference: its values are flagged, not shown in USD
    assert _comets(1)["0x3d0bb1ccab520a66e607822fc55bc921738fafe3"].usd_reference is None
    # USDT refuses to change a non-zero allowance: the registry says so
    assert _comets(1)["0x3afdc9bca9213a35503b077a6072f3d0d5ab0840"].asset.approve_reset


def test_every_eigenlayer_mainnet_strategy_eigen_and_beacon_eth_are_listed() -> None:
    # Given the README's mainnet deployments
    published = json.loads((DATA / "eigenlayer_mainnet.json").read_text())
    chain = load_registry("mainnet").chain(1)
    markets = [m for m in chain.markets if isinstance(m, EigenLayerMarket)]
    by_strategy = {m.strategy.lower(): m for m in markets}
    # Then every strategy (LSTs and EIGEN) and beacon-chain ETH is a market, nothing else is
    expected = {a.lower() for a in published["strategies"].values()} | {published["beacon_chain_eth"].lower()}
    assert set(by_strategy) == expected
    for symbol, strategy in published["strategies"].items():
        assert by_strategy[strategy.lower()].asset.symbol == symbol
    assert by_strategy[published["strategies"]["EIGEN"].lower()].asset.address.lower() == published["EIGEN"]
    assert by_strategy[published["beacon_chain_eth"].lower()].kind == "beacon"
    # ... all read through the published DelegationManager and StrategyManager
    core = published["core"]
    assert {m.delegation_manager for m in markets} == {core["DelegationManager"]}
    assert {m.strategy_manager for m in markets} == {core["StrategyManager"]}
