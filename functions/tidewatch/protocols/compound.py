"""Compound III (Comet): the read plans live in `compound_comet` (on-chain discovery of every
collateral, numéraire-aware prices, health factor checked against `isLiquidatable`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, CallResult
from tidewatch.chain.plan import ReadPlan
from tidewatch.protocols.adapter import PlannedCall, ProtocolAdapter, StepPlan, TxTarget
from tidewatch.protocols.compound_comet import FACTOR_DECIMALS, PRICE_DECIMALS, market_plan, position_plan
from tidewatch.protocols.models import ChainPosition, MarketSnapshot
from tidewatch.protocols.registry import ChainRegistry, CompoundV3Market, Market
from tidewatch.transactions.amounts import (
    MAX_UINT256,
    exceeds,
    matches,
    repay_amounts,
    requested,
    same,
    units,
    wallet_amount,
)
from tidewatch.transactions.errors import UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

__all__ = ["ADAPTER", "FACTOR_DECIMALS", "PRICE_DECIMALS", "CompoundV3Adapter", "market_plan", "position_plan"]


class CompoundV3Adapter(ProtocolAdapter):
    """Compound III: one market per Comet; base asset supply/withdraw/repay, collateral supply/withdraw."""

    slug = "compound-v3"
    name = "Compound v3"
    actions = frozenset({"supply", "withdraw", "repay"})
    max_actions = frozenset({"supply", "withdraw", "repay"})

    def market_plans(self, chain_id: int, markets: Sequence[Market]) -> list[ReadPlan[MarketSnapshot]]:
        return [market_plan(chain_id, m) for m in markets if isinstance(m, CompoundV3Market)]

    def position_plans(
        self, chain_id: int, markets: Sequence[Market], user: str
    ) -> list[ReadPlan[ChainPosition | None]]:
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
        if intent.action == "repay":
            if not is_base:
                raise UnsupportedIntent(
                    f"only the base asset ({m.asset.symbol}) is borrowed on {self.name}", field="asset"
                )
            want = requested(intent, token.decimals)
            debt = results[1].one()  # borrowBalanceOf
            if debt == 0:
                raise UnsupportedIntent(
                    f"no {token.symbol} debt to repay on {self.name} {m.asset.symbol} market", field="asset"
                )
            amount, pulls, shown = repay_amounts(want, debt, wallet_balance, token, settings)
            call = _call(
                target,
                abi.COMET_SUPPLY,
                (token.address, amount),
                {"asset": token.address, "amount": str(amount)},
                f"Repay {shown} {token.symbol} of debt on {self.name} {m.asset.symbol} market",
            )
            return StepPlan([call], pulls=pulls)
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
