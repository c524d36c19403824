"""One contract for every registered protocol adapter, run against its output on the devnet.

Every adapter in `tidewatch.protocols.adapters.ADAPTERS` must: read every market of its protocol
into a snapshot with sane units; read the seeded users' positions with positive amounts in its
own protocol; resolve a deposit of each market's asset to a spender it allows; and plan that
deposit into calls sent only to contracts the registry allows.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tidewatch.chain.multicall import CallResult
from tidewatch.chain.plan import execute
from tidewatch.protocols.adapter import ProtocolAdapter
from tidewatch.protocols.adapters import ADAPTERS, adapter_for
from tidewatch.protocols.registry import ChainRegistry
from tidewatch.transactions import plans
from tidewatch.transactions.models import ACTIONS, Intent
from tidewatch.transactions.settings import WalletSettings

from .conftest import InProcessDevnet

ALL = sorted(ADAPTERS)


def chain(devnet: InProcessDevnet) -> ChainRegistry:
    return devnet.registry.chains[0]


@pytest.mark.parametrize("slug", ALL)
def test_adapter_declares_its_identity_and_actions(slug: str) -> None:
    # Given the registered adapter
    adapter = adapter_for(slug)
    # Then it is registered under its own slug and supports exactly the actions intents allow
    assert isinstance(adapter, ProtocolAdapter)
    assert adapter.slug == slug
    assert adapter.name
    assert adapter.actions == frozenset(ACTIONS[slug])
    assert adapter.max_actions <= adapter.actions


@pytest.mark.parametrize("slug", ALL)
def test_market_snapshots_are_complete_and_in_sane_units(slug: str, devnet: InProcessDevnet) -> None:
    # Given the adapter's markets on the devnet
    adapter = adapter_for(slug)
    c = chain(devnet)
    markets = adapter.markets(c)
    assert markets, f"the devnet has no {slug} market"
    client, _ = devnet.client()
    # When its market plans run
    block, outcomes = execute(client, c.multicall3, adapter.market_plans(c.chain_id, markets))
    # Then every market gives one snapshot of this protocol at the block read, with sane values
    assert [o.error for o in outcomes] == [None] * len(markets)
    keys = {m.key.lower() for m in markets}
    for o in outcomes:
        s = o.value
        assert s is not None
        assert s.protocol == slug
        assert s.chain_id == c.chain_id
        assert s.market_key.lower() in keys
        assert s.block_number == block.number
        assert s.block_timestamp == block.timestamp
        assert 0 <= s.asset_decimals <= 36
        assert s.asset_symbol
        for rate in (s.supply_apy, s.borrow_apy, s.supply_apr, s.borrow_apr):
            assert rate is None or Decimal(0) <= rate < Decimal(10)
        assert s.utilization is None or Decimal(0) <= s.utilization <= Decimal(1)
        assert s.total_supplied is None or s.total_supplied >= 0
        assert s.total_borrowed is None or s.total_borrowed >= 0
        assert s.price_usd is None or s.price_usd > 0
        assert s.model_dump(mode="json")  # JSON-ready


@pytest.mark.parametrize("slug", ALL)
def test_positions_belong_to_the_user_and_protocol(slug: str, devnet: InProcessDevnet) -> None:
    # Given every seeded user
    adapter = adapter_for(slug)
    c = chain(devnet)
    client, _ = devnet.client()
    users = [u.address for u in devnet.registry.users]
    # When the adapter's position plans run for each of them
    plans_ = [p for u in users for p in adapter.position_plans(c.chain_id, adapter.markets(c), u)]
    _, outcomes = execute(client, c.multicall3, plans_)
    # Then no plan fails, at least one user holds a position, and each is well formed
    assert [o.error for o in outcomes] == [None] * len(plans_)
    positions = [o.value for o in outcomes if o.value is not None]
    assert positions, f"no seeded user holds a {slug} position"
    for p in positions:
        assert p.protocol == slug
        assert p.chain_id == c.chain_id
        assert p.address in users
        holdings = p.supplied + p.borrowed + p.collateral
        assert holdings
        assert all(t.amount > 0 for t in holdings)
        assert p.health_factor is None or p.health_factor > 0


@pytest.mark.parametrize("slug", ALL)
def test_a_deposit_resolves_and_plans_to_allowed_contracts_only(slug: str, devnet: InProcessDevnet) -> None:
    # Given a deposit of the first market's asset by a user holding 10 tokens and no allowance
    adapter = adapter_for(slug)
    c = chain(devnet)
    market = adapter.markets(c)[0]
    action = "supply" if "supply" in adapter.actions else "deposit"
    user = devnet.registry.users[0].address
    intent = Intent.model_validate(
        {
            "chain_id": c.chain_id,
            "protocol": slug,
            "action": action,
            "from": user,
            "asset": market.asset.address,
            "amount_base_units": 10 * 10**market.asset.decimals,
            "market": market.key if slug != "aave-v3" else None,
        }
    )
    # When the shared planner resolves and plans it (adapter reads answered with zeros)
    target = plans.resolve(intent, c)
    reads = plans.reads(target)
    results = [CallResult(True, (10 * 10**market.asset.decimals,)), CallResult(True, (0,))]
    results += [CallResult(True, (0,) * len(call.function.outputs)) for call in reads[2:]]
    calls = plans.plan(target, results, WalletSettings())
    # Then the spender is an allowed contract, an approval precedes the protocol call, and every
    # call goes to an allowed contract
    allowed = adapter.allowed_targets(c)
    assert target.spender.lower() in allowed
    assert calls[0].decoded.function.startswith("approve(")
    assert len(calls) == 2
    assert all(call.to.lower() in allowed for call in calls)
    plans.check_targets(calls, c)


@pytest.mark.parametrize("slug", ALL)
def test_discovery_from_each_root_yields_this_protocols_markets(slug: str, devnet: InProcessDevnet) -> None:
    # Given the devnet roots of this protocol (an adapter whose markets are all listed has none)
    adapter = adapter_for(slug)
    c = chain(devnet)
    roots = [r for r in c.roots if r.protocol == slug]
    client, _ = devnet.client()
    for root in roots:
        plan = adapter.discovery_plan(c.chain_id, root)
        assert plan is not None, f"{slug} has a root but no discovery plan"
        # When the root is discovered
        block, (outcome,) = execute(client, c.multicall3, [plan])
        # Then it yields markets of this protocol, unique by key, at the block read, and the
        # fingerprint it recorded is what the fingerprint calls return
        found = outcome.value
        assert found is not None, outcome.error
        assert found.block_number == block.number
        assert found.markets
        assert all(m.protocol == slug for m in found.markets)
        assert len({m.key.lower() for m in found.markets}) == len(found.markets)
        calls = adapter.fingerprint_calls(root)
        if calls:
            assert len(found.instance["fingerprint"]) == len(calls)
