"""Compound III (Comet): base-asset market snapshots and account positions.

Rates come from the protocol itself: `getSupplyRate(getUtilization())` and
`getBorrowRate(getUtilization())`, read at one block (utilization in the prelude round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan
from tidewatch.protocols.adapter import PlannedCall, ProtocolAdapter, StepPlan, TxTarget
from tidewatch.protocols.models import MarketSnapshot, Position, TokenAmount
from tidewatch.protocols.rates import WAD, comet_rate_to_apr, comet_rate_to_apy, scaled
from tidewatch.protocols.registry import ChainRegistry, CompoundV3Market, Market
from tidewatch.transactions.amounts import MAX_UINT256, exceeds, matches, requested, same, units, wallet_amount
from tidewatch.transactions.errors import UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

PRICE_DECIMALS = 8  # Comet.getPrice: USD with 8 decimals
FACTOR_DECIMALS = 18


def _discovery(m: CompoundV3Market) -> list[Call]:
    """Price feeds and collateral factors (cheap reads, in the prelude so prices join the main batch)."""
    calls = [Call(m.comet, abi.COMET_BASE_PRICE_FEED)]
    calls += [Call(m.comet, abi.COMET_GET_ASSET_INFO_BY_ADDRESS, (c.address,)) for c in m.collaterals]
    return calls


def market_plan(chain_id: int, m: CompoundV3Market) -> ReadPlan[MarketSnapshot]:
    prelude = [Call(m.comet, abi.COMET_GET_UTILIZATION), *_discovery(m)]

    def main(pre: list[CallResult]) -> list[Call]:
        utilization = pre[0].one()
        feed = pre[1].one()
        return [
            Call(m.comet, abi.COMET_GET_SUPPLY_RATE, (utilization,)),
            Call(m.comet, abi.COMET_GET_BORROW_RATE, (utilization,)),
            Call(m.comet, abi.COMET_TOTAL_SUPPLY),
            Call(m.comet, abi.COMET_TOTAL_BORROW),
            Call(m.comet, abi.COMET_GET_PRICE, (feed,)),
        ]

    def build(pre: list[CallResult], r: list[CallResult], block: BlockRef) -> MarketSnapshot:
        utilization = pre[0].one()
        supply_rate, borrow_rate, total_supply, total_borrow, price = (x.one() for x in r)
        collaterals = []
        for c, info_result in zip(m.collaterals, pre[2:], strict=True):
            info = info_result.one()
            collaterals.append(
                {
                    "symbol": c.symbol,
                    "address": c.address,
                    "decimals": c.decimals,
                    "borrow_collateral_factor": scaled(info[4], FACTOR_DECIMALS),
                    "liquidate_collateral_factor": scaled(info[5], FACTOR_DECIMALS),
                    "liquidation_factor": scaled(info[6], FACTOR_DECIMALS),
                    "supply_cap": info[7],
                }
            )
        return MarketSnapshot(
            chain_id=chain_id,
            protocol="compound-v3",
            market_key=m.key,
            asset_symbol=m.asset.symbol,
            asset_address=m.asset.address,
            asset_decimals=m.asset.decimals,
            block_number=block.number,
            block_timestamp=block.timestamp,
            supply_apy=comet_rate_to_apy(supply_rate),
            borrow_apy=comet_rate_to_apy(borrow_rate),
            supply_apr=comet_rate_to_apr(supply_rate),
            borrow_apr=comet_rate_to_apr(borrow_rate),
            utilization=Decimal(utilization) / Decimal(WAD),
            total_supplied=total_supply,
            total_borrowed=total_borrow,
            price_usd=scaled(price, PRICE_DECIMALS),
            params={"collaterals": collaterals, "comet": m.comet},
            raw={
                "utilization_e18": utilization,
                "supply_rate_per_second_e18": supply_rate,
                "borrow_rate_per_second_e18": borrow_rate,
                "price_e8": price,
            },
        )

    return ReadPlan(f"compound-v3:{m.key}", main, build, prelude)


def position_plan(chain_id: int, m: CompoundV3Market, user: str) -> ReadPlan[Position | None]:
    def main(pre: list[CallResult]) -> list[Call]:
        feeds = [pre[0].one()] + [info.one()[2] for info in pre[1:]]
        calls = [
            Call(m.comet, abi.COMET_BALANCE_OF, (user,)),
            Call(m.comet, abi.COMET_BORROW_BALANCE_OF, (user,)),
        ]
        calls += [Call(m.comet, abi.COMET_COLLATERAL_BALANCE_OF, (user, c.address)) for c in m.collaterals]
        calls += [Call(m.comet, abi.COMET_GET_PRICE, (feed,)) for feed in feeds]
        return calls

    def build(pre: list[CallResult], r: list[CallResult], _block: BlockRef) -> Position | None:
        n = len(m.collaterals)
        supplied_base, borrowed_base = r[0].one(), r[1].one()
        amounts = [x.one() for x in r[2 : 2 + n]]
        prices = [scaled(x.one(), PRICE_DECIMALS) for x in r[2 + n :]]
        if not supplied_base and not borrowed_base and not any(amounts):
            return None
        base = {"symbol": m.asset.symbol, "address": m.asset.address, "decimals": m.asset.decimals}
        collateral = [
            TokenAmount(symbol=c.symbol, address=c.address, decimals=c.decimals, amount=a, price_usd=p)
            for c, a, p in zip(m.collaterals, amounts, prices[1:], strict=True)
            if a
        ]
        # Health factor as Aave defines it, from Comet's own liquidation factors:
        # sum(collateral value x liquidateCollateralFactor) / debt value; < 1 means liquidatable.
        health: Decimal | None = None
        if borrowed_base:
            debt_value = Decimal(borrowed_base) / Decimal(10) ** m.asset.decimals * prices[0]
            limit = sum(
                (
                    Decimal(a) / Decimal(10) ** c.decimals * p * scaled(info.one()[5], FACTOR_DECIMALS)
                    for c, a, p, info in zip(m.collaterals, amounts, prices[1:], pre[1:], strict=True)
                ),
                Decimal(0),
            )
            health = limit / debt_value
        return Position(
            chain_id=chain_id,
            protocol="compound-v3",
            market_key=m.key,
            address=user,
            supplied=[TokenAmount(**base, amount=supplied_base, price_usd=prices[0])] if supplied_base else [],
            borrowed=[TokenAmount(**base, amount=borrowed_base, price_usd=prices[0])] if borrowed_base else [],
            collateral=collateral,
            health_factor=health,
            account={"base_supplied": supplied_base, "base_borrowed": borrowed_base},
        )

    return ReadPlan(f"compound-v3:{m.key}:{user}", main, build, _discovery(m))


class CompoundV3Adapter(ProtocolAdapter):
    """Compound III: one market per Comet; base asset supply/withdraw and collateral supply/withdraw."""

    slug = "compound-v3"
    name = "Compound v3"
    actions = frozenset({"supply", "withdraw"})
    max_actions = frozenset({"supply", "withdraw"})

    def market_plans(self, chain_id: int, markets: Sequence[Market]) -> list[ReadPlan[MarketSnapshot]]:
        return [market_plan(chain_id, m) for m in markets if isinstance(m, CompoundV3Market)]

    def position_plans(self, chain_id: int, markets: Sequence[Market], user: str) -> list[ReadPlan[Position | None]]:
        return [position_plan(chain_id, m, user) for m in markets if isinstance(m, CompoundV3Market)]

    def liquidation_thresholds(
        self, market_key: str, asset_symbol: str, params: dict[str, Any]
    ) -> dict[tuple[str, str], Decimal]:
        return {
            (market_key.lower(), str(c["symbol"]).upper()): Decimal(str(c["liquidate_collateral_factor"]))
            for c in params.get("collaterals", [])
        }

    def resolve(self, intent: Intent, chain: ChainRegistry) -> TxTarget | None:
        wanted = intent.asset
        comets = [m for m in self.markets(chain) if isinstance(m, CompoundV3Market)]
        if intent.market:
            comets = [m for m in comets if same(m.comet, intent.market) or matches(m.asset, intent.market)]
        for m in comets:
            for token in (m.asset, *m.collaterals):
                if matches(token, wanted):
                    if intent.market is None and not matches(m.asset, wanted) and len(comets) > 1:
                        continue  # a collateral in several markets: the caller must name the market
                    return TxTarget(intent, m, token, m.comet, {"is_base": same(token.address, m.asset.address)})
        if intent.market is None and comets:
            raise UnsupportedIntent(f"{wanted} is collateral in several Comet markets: name the market")
        return None

    def step_reads(self, target: TxTarget) -> list[Call]:
        m, owner = target.market, target.intent.from_address
        assert isinstance(m, CompoundV3Market)
        if target.facts["is_base"]:
            return [Call(m.comet, abi.COMET_BALANCE_OF, (owner,)), Call(m.comet, abi.COMET_BORROW_BALANCE_OF, (owner,))]
        return [Call(m.comet, abi.COMET_COLLATERAL_BALANCE_OF, (owner, target.token.address))]

    def plan_step(
        self, target: TxTarget, wallet_balance: int, results: list[CallResult], settings: WalletSettings
    ) -> StepPlan:
        intent, token, m = target.intent, target.token, target.market
        assert isinstance(m, CompoundV3Market)
        is_base = bool(target.facts["is_base"])
        if intent.action == "supply":
            amount = wallet_amount(intent, token, wallet_balance)
            kind = "base asset" if is_base else "collateral"
            call = _call(
                target,
                abi.COMET_SUPPLY,
                (token.address, amount),
                {"asset": token.address, "amount": str(amount)},
                f"Supply {units(amount, token.decimals)} {token.symbol} ({kind}) to {self.name} {m.asset.symbol} market",
            )
            return StepPlan([call], pulls=amount)
        if intent.action == "withdraw":
            want = requested(intent, token.decimals)
            available = results[0].one()
            if is_base and want is None:
                if available == 0:
                    raise exceeds("your supplied balance", 1, 0, token)
                amount, shown, received = MAX_UINT256, f"all ({units(available, token.decimals)})", available
            else:
                # Base withdrawals above the supplied balance would open a borrow: refuse, that is
                # not what "withdraw" means here. Collateral is bounded by its balance.
                amount = available if want is None else want
                if amount == 0 or amount > available:
                    raise exceeds("your supplied balance", amount or 1, available, token)
                shown, received = units(amount, token.decimals), amount
            call = _call(
                target,
                abi.COMET_WITHDRAW,
                (token.address, amount),
                {"asset": token.address, "amount": str(amount)},
                f"Withdraw {shown} {token.symbol} from {self.name} {m.asset.symbol} market",
            )
            return StepPlan([call], received=received)
        raise UnsupportedIntent(f"{self.slug} does not support {intent.action}")

    def supplied_call(self, market: Market, owner: str) -> Call | None:
        assert isinstance(market, CompoundV3Market)
        return Call(market.comet, abi.COMET_BALANCE_OF, (owner,))

    def intent_fields(self, market: Market) -> dict[str, Any] | None:
        assert isinstance(market, CompoundV3Market)
        return {"protocol": self.slug, "market": market.comet}

    def allowed_targets(self, chain: ChainRegistry) -> set[str]:
        out: set[str] = set()
        for m in self.markets(chain):
            if isinstance(m, CompoundV3Market):
                out.update((m.asset.address.lower(), m.comet.lower()))
                out.update(c.address.lower() for c in m.collaterals)
        return out


def _call(
    target: TxTarget, fn: abi.Function, args: tuple[Any, ...], named: dict[str, Any], summary: str
) -> PlannedCall:
    return PlannedCall(
        to=target.spender,
        data=fn.encode(*args),
        decoded=DecodedCall(function=fn.signature, args=named),
        summary=summary,
    )


ADAPTER = CompoundV3Adapter()
