"""Rule intents → concrete steps: which portfolio address acts, and for how much.

* `repay_to_health_factor`: the address with the lowest Aave health factor that owes the asset
  repays  debt·(1 + 1 bp) − collateral·LT / target  (in the base currency, converted with the
  Aave oracle price and rounded up; the 1 bp covers interest accrued until inclusion), capped by
  that debt and the wallet balance.
* `move_supply`: the address with the largest supplied balance in the source market withdraws
  `fraction` of it and supplies it to the target market (same token, same chain), in one bundle.

One Multicall3 round trip reads every candidate address at the pending state.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, aggregate
from tidewatch.chain.rpc import ChainClient
from tidewatch.protocols.registry import AaveV3Market, ChainRegistry, CompoundV3Market
from tidewatch.transactions.errors import AmountExceedsBalance, UnsupportedIntent
from tidewatch.transactions.models import Intent, MarketRow, MoveSupply, RepayToHealthFactor
from tidewatch.transactions.plans import units

BPS = Decimal(10_000)
WAD = Decimal(10**18)
# Debt keeps accruing between preparation and inclusion: repay as if the debt were 1 bp larger,
# which covers ~9 hours at a 10 % borrow APR, so the factor lands at or just above the target.
INTEREST_MARGIN_BPS = Decimal(1)


def _aave_market(chain: ChainRegistry, row: MarketRow) -> AaveV3Market:
    for m in chain.markets:
        if isinstance(m, AaveV3Market) and m.asset.address.lower() == row.asset_address.lower():
            return m
    raise UnsupportedIntent(f"market {row.id} ({row.asset_symbol}) is not in the registry", field="intent.market_id")


def _comet(chain: ChainRegistry, row: MarketRow) -> CompoundV3Market:
    for m in chain.markets:
        if isinstance(m, CompoundV3Market) and m.comet.lower() == row.market_key.lower():
            return m
    raise UnsupportedIntent(f"market {row.id} is not in the registry", field="intent.from_market_id")


def repay_steps(
    intent: RepayToHealthFactor,
    row: MarketRow,
    addresses: Sequence[str],
    chain: ChainRegistry,
    client: ChainClient,
) -> list[Intent]:
    if row.protocol != "aave-v3":
        raise UnsupportedIntent("repay_to_health_factor supports aave-v3 markets", field="intent.market_id")
    market = _aave_market(chain, row)
    asset = market.asset
    calls = [Call(market.oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (asset.address,))]
    for address in addresses:
        calls += [
            Call(market.pool, abi.AAVE_GET_USER_ACCOUNT_DATA, (address,)),
            Call(market.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (asset.address, address)),
            Call(asset.address, abi.ERC20_BALANCE_OF, (address,)),
        ]
    results = aggregate(client, chain.multicall3, calls, block="pending")
    price = Decimal(results[0].one())
    candidates: list[tuple[int, str, tuple[Any, ...], int, int]] = []
    for n, address in enumerate(addresses):
        account = results[1 + 3 * n].all()
        reserve = results[2 + 3 * n].all()
        debt = reserve[1] + reserve[2]
        if debt:
            candidates.append((account[5], address, account, debt, results[3 + 3 * n].one()))
    if not candidates:
        raise UnsupportedIntent(f"no address of the portfolio owes {asset.symbol} on Aave v3", field="intent.market_id")
    health, address, account, debt, balance = min(candidates)
    collateral, total_debt, threshold = Decimal(account[0]), Decimal(account[1]), Decimal(account[3])
    target = intent.target_health_factor
    allowed_debt = collateral * threshold / BPS / target
    if Decimal(health) / WAD >= target or total_debt <= allowed_debt:
        raise UnsupportedIntent(
            f"health factor of {address} is already {Decimal(health) / WAD:.4f} >= {target}", field="intent"
        )
    # base currency units (USD, 8 decimals)
    repay_base = total_debt * (BPS + INTEREST_MARGIN_BPS) / BPS - allowed_debt
    needed = int((repay_base * Decimal(10) ** asset.decimals / price).to_integral_value(ROUND_CEILING))
    if balance == 0:
        raise AmountExceedsBalance(
            f"{address} holds no {asset.symbol} to repay {units(min(needed, debt), asset.decimals)} {asset.symbol}",
            field="intent",
            requested=str(min(needed, debt)),
            available="0",
        )
    common: dict[str, Any] = {
        "chain_id": chain.chain_id,
        "protocol": "aave-v3",
        "action": "repay",
        "from": address,
        "asset": asset.address,
        "speed": intent.speed,
    }
    if needed >= debt and balance >= debt:
        return [Intent.model_validate({**common, "amount": "max"})]
    # Partial when the wallet cannot cover it all: a smaller repayment still moves the factor up.
    return [Intent.model_validate({**common, "amount_base_units": min(needed, debt, balance)})]


def _supplied_calls(chain: ChainRegistry, row: MarketRow, address: str) -> tuple[Call, dict[str, Any]]:
    if row.protocol == "aave-v3":
        m = _aave_market(chain, row)
        return Call(m.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (m.asset.address, address)), {
            "protocol": "aave-v3"
        }
    if row.protocol == "compound-v3":
        comet = _comet(chain, row)
        return Call(comet.comet, abi.COMET_BALANCE_OF, (address,)), {"protocol": "compound-v3", "market": comet.comet}
    raise UnsupportedIntent(f"move_supply cannot move {row.protocol} positions", field="intent.from_market_id")


def _market_fields(chain: ChainRegistry, row: MarketRow) -> dict[str, Any]:
    if row.protocol == "aave-v3":
        _aave_market(chain, row)
        return {"protocol": "aave-v3"}
    if row.protocol == "compound-v3":
        return {"protocol": "compound-v3", "market": _comet(chain, row).comet}
    raise UnsupportedIntent(f"move_supply cannot supply to {row.protocol}", field="intent.to_market_id")


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
    destination = _market_fields(chain, target)
    calls = []
    withdraw_fields: dict[str, Any] = {}
    for address in addresses:
        call, withdraw_fields = _supplied_calls(chain, source, address)
        calls.append(call)
    results = aggregate(client, chain.multicall3, calls, block="pending")
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
