"""Rule intents → concrete steps: which portfolio address acts, and for how much.

* `repay_to_health_factor`: the market's adapter reads every candidate address and names the
  repay (Aave: the address with the lowest health factor that owes the asset repays
  debt·(1 + 1 bp) − collateral·LT / target, see `AaveV3Adapter.repay_to_health_factor_intent`).
* `move_supply`: the address with the largest supplied balance in the source market withdraws
  `fraction` of it and supplies it to the target market (same token, same chain), in one bundle.

One Multicall3 round trip reads every candidate address at the pending state.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

from tidewatch.chain.multicall import aggregate
from tidewatch.chain.rpc import ChainClient
from tidewatch.intents import MoveSupply, RepayToHealthFactor
from tidewatch.protocols.adapters import adapter_for
from tidewatch.protocols.registry import ChainRegistry, Market
from tidewatch.transactions.errors import UnsupportedIntent
from tidewatch.transactions.models import Intent, MarketRow


def _market(chain: ChainRegistry, row: MarketRow, field: str) -> Market:
    market = adapter_for(row.protocol).market_for(chain, row.market_key, row.asset_address)
    if market is None:
        raise UnsupportedIntent(f"market {row.id} ({row.asset_symbol}) is not in the registry", field=field)
    return market


def repay_steps(
    intent: RepayToHealthFactor,
    row: MarketRow,
    addresses: Sequence[str],
    chain: ChainRegistry,
    client: ChainClient,
) -> list[Intent]:
    adapter = adapter_for(row.protocol)
    market = _market(chain, row, "intent.market_id")
    calls = adapter.repay_to_health_factor_reads(market, addresses)
    if calls is None:
        raise UnsupportedIntent(
            f"repay_to_health_factor is not supported on {adapter.name} markets", field="intent.market_id"
        )
    results = aggregate(client, chain.multicall3, calls, block="pending")
    fields = adapter.repay_to_health_factor_intent(market, addresses, results, intent.target_health_factor)
    return [Intent.model_validate({"chain_id": chain.chain_id, "speed": intent.speed, **fields})]


def move_steps(
    intent: MoveSupply,
    source: MarketRow,
    target: MarketRow,
    addresses: Sequence[str],
    chain: ChainRegistry,
    client: ChainClient,
) -> list[Intent]:
    if source.id == target.id:
        raise UnsupportedIntent("from_market_id and to_market_id are the same market", field="intent.to_market_id")
    if source.chain_id != target.chain_id or source.asset_address.lower() != target.asset_address.lower():
        raise UnsupportedIntent(
            "move_supply moves one token within one chain: the markets' assets or chains differ", field="intent"
        )
    source_adapter, target_adapter = adapter_for(source.protocol), adapter_for(target.protocol)
    source_market = _market(chain, source, "intent.from_market_id")
    destination = target_adapter.intent_fields(_market(chain, target, "intent.to_market_id"))
    withdraw_fields = source_adapter.intent_fields(source_market)
    if destination is None:
        raise UnsupportedIntent(f"move_supply cannot supply to {target_adapter.name}", field="intent.to_market_id")
    calls = [source_adapter.supplied_call(source_market, address) for address in addresses]
    if withdraw_fields is None or any(c is None for c in calls):
        raise UnsupportedIntent(
            f"move_supply cannot move {source_adapter.name} positions", field="intent.from_market_id"
        )
    results = aggregate(client, chain.multicall3, [c for c in calls if c is not None], block="pending")
    balances = [(r.all()[0], a) for r, a in zip(results, addresses, strict=True)]
    supplied, address = max(balances)
    if not supplied:
        raise UnsupportedIntent(
            f"no address of the portfolio supplies {source.asset_symbol} in market {source.id}", field="intent"
        )
    amount = int((Decimal(supplied) * intent.fraction).to_integral_value(ROUND_FLOOR))
    common = {"chain_id": chain.chain_id, "from": address, "asset": source.asset_address, "speed": intent.speed}
    withdraw = {**common, **withdraw_fields, "action": "withdraw"}
    withdraw.update({"amount": "max"} if intent.fraction == 1 else {"amount_base_units": amount})
    supply = {**common, **destination, "action": "supply", "amount_base_units": amount}
    return [Intent.model_validate(withdraw), Intent.model_validate(supply)]
