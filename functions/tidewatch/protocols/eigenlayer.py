"""EigenLayer: the read plans live in `eigenlayer_reads` (withdrawable shares and queued
withdrawals from the DelegationManager, beacon-chain ETH, strategy snapshots)."""

from __future__ import annotations

from collections.abc import Sequence

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, CallResult
from tidewatch.chain.plan import ReadPlan
from tidewatch.protocols.adapter import PlannedCall, ProtocolAdapter, StepPlan, TxTarget
from tidewatch.protocols.eigenlayer_reads import ONE_SHARE, market_plan, position_plan
from tidewatch.protocols.models import ChainPosition, MarketSnapshot
from tidewatch.protocols.registry import ChainRegistry, EigenLayerMarket, Market
from tidewatch.transactions.amounts import matches, same, units, wallet_amount
from tidewatch.transactions.errors import UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

__all__ = ["ADAPTER", "ONE_SHARE", "EigenLayerAdapter", "market_plan", "position_plan"]


class EigenLayerAdapter(ProtocolAdapter):
    """EigenLayer: one market per strategy; deposits go through the StrategyManager. Beacon-chain
    ETH is restaked through an EigenPod, not a deposit: it is read, never a transaction target."""

    slug = "eigenlayer"
    name = "EigenLayer"
    actions = frozenset({"deposit"})
    max_actions = frozenset({"deposit"})

    def market_plans(self, chain_id: int, markets: Sequence[Market]) -> list[ReadPlan[MarketSnapshot]]:
        return [market_plan(chain_id, m) for m in markets if isinstance(m, EigenLayerMarket)]

    def position_plans(
        self, chain_id: int, markets: Sequence[Market], user: str
    ) -> list[ReadPlan[ChainPosition | None]]:
        return [position_plan(chain_id, m, user) for m in markets if isinstance(m, EigenLayerMarket)]

    def resolve(self, intent: Intent, chain: ChainRegistry) -> TxTarget | None:
        for m in self.markets(chain):
            if not isinstance(m, EigenLayerMarket) or m.kind == "beacon":
                continue
            if intent.market and not same(m.strategy, intent.market):
                continue
            if matches(m.asset, intent.asset):
                return TxTarget(intent, m, m.asset, m.strategy_manager)
        return None

    def step_reads(self, target: TxTarget) -> list[Call]:
        return []

    def plan_step(
        self, target: TxTarget, wallet_balance: int, results: list[CallResult], settings: WalletSettings
    ) -> StepPlan:
        intent, token, m = target.intent, target.token, target.market
        assert isinstance(m, EigenLayerMarket)
        if intent.action != "deposit":
            raise UnsupportedIntent(f"{self.slug} does not support {intent.action}")
        amount = wallet_amount(intent, token, wallet_balance)
        fn = abi.EIGEN_DEPOSIT_INTO_STRATEGY
        call = PlannedCall(
            to=target.spender,
            data=fn.encode(m.strategy, token.address, amount),
            decoded=DecodedCall(
                function=fn.signature, args={"strategy": m.strategy, "token": token.address, "amount": str(amount)}
            ),
            summary=f"Restake {units(amount, token.decimals)} {token.symbol} into the EigenLayer {token.symbol} strategy",
        )
        return StepPlan([call], pulls=amount)

    def allowed_targets(self, chain: ChainRegistry) -> set[str]:
        out: set[str] = set()
        for m in self.markets(chain):
            if isinstance(m, EigenLayerMarket) and m.kind != "beacon":
                out.update((m.asset.address.lower(), m.strategy_manager.lower()))
        return out


ADAPTER = EigenLayerAdapter()
