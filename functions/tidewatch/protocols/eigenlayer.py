"""EigenLayer: LST strategies (total value, share price) and a staker's shares in underlying."""

from __future__ import annotations

from collections.abc import Sequence

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan, no_prelude
from tidewatch.protocols.adapter import PlannedCall, ProtocolAdapter, StepPlan, TxTarget
from tidewatch.protocols.models import MarketSnapshot, Position, TokenAmount
from tidewatch.protocols.rates import scaled
from tidewatch.protocols.registry import ChainRegistry, EigenLayerMarket, Market
from tidewatch.transactions.amounts import matches, same, units, wallet_amount
from tidewatch.transactions.errors import UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

ONE_SHARE = 10**18


def market_plan(chain_id: int, m: EigenLayerMarket) -> ReadPlan[MarketSnapshot]:
    calls = [
        Call(m.strategy, abi.EIGEN_STRATEGY_TOTAL_SHARES),
        # StrategyBase holds exactly its underlying balance: that is the strategy's total value.
        Call(m.asset.address, abi.ERC20_BALANCE_OF, (m.strategy,)),
        Call(m.strategy, abi.EIGEN_STRATEGY_SHARES_TO_UNDERLYING, (ONE_SHARE,)),
    ]
    if m.price_oracle:
        calls.append(Call(m.price_oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (m.asset.address,)))

    def build(_pre: list[CallResult], r: list[CallResult], block: BlockRef) -> MarketSnapshot:
        total_shares, total_underlying, per_share = r[0].one(), r[1].one(), r[2].one()
        price = r[3].one() if m.price_oracle else None
        return MarketSnapshot(
            chain_id=chain_id,
            protocol="eigenlayer",
            market_key=m.key,
            asset_symbol=m.asset.symbol,
            asset_address=m.asset.address,
            asset_decimals=m.asset.decimals,
            block_number=block.number,
            block_timestamp=block.timestamp,
            total_supplied=total_underlying,
            price_usd=scaled(price, 8) if price is not None else None,
            params={
                "strategy": m.strategy,
                "total_shares": total_shares,
                "underlying_per_share": scaled(per_share, 18),
            },
            raw={"total_shares": total_shares, "underlying_per_1e18_shares": per_share},
        )

    return ReadPlan(f"eigenlayer:{m.key}", no_prelude(calls), build)


def position_plan(chain_id: int, m: EigenLayerMarket, user: str) -> ReadPlan[Position | None]:
    calls = [
        Call(m.strategy, abi.EIGEN_STRATEGY_SHARES, (user,)),
        Call(m.strategy, abi.EIGEN_STRATEGY_USER_UNDERLYING, (user,)),
    ]
    if m.price_oracle:
        calls.append(Call(m.price_oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (m.asset.address,)))

    def build(_pre: list[CallResult], r: list[CallResult], _block: BlockRef) -> Position | None:
        shares, underlying = r[0].one(), r[1].one()
        if not shares:
            return None
        price = scaled(r[2].one(), 8) if m.price_oracle else None
        return Position(
            chain_id=chain_id,
            protocol="eigenlayer",
            market_key=m.key,
            address=user,
            supplied=[
                TokenAmount(
                    symbol=m.asset.symbol,
                    address=m.asset.address,
                    decimals=m.asset.decimals,
                    amount=underlying,
                    price_usd=price,
                )
            ],
            account={"shares": shares, "underlying": underlying},
        )

    return ReadPlan(f"eigenlayer:{m.key}:{user}", no_prelude(calls), build)


class EigenLayerAdapter(ProtocolAdapter):
    """EigenLayer: one market per strategy; deposits go through the StrategyManager."""

    slug = "eigenlayer"
    name = "EigenLayer"
    actions = frozenset({"deposit"})
    max_actions = frozenset({"deposit"})

    def market_plans(self, chain_id: int, markets: Sequence[Market]) -> list[ReadPlan[MarketSnapshot]]:
        return [market_plan(chain_id, m) for m in markets if isinstance(m, EigenLayerMarket)]

    def position_plans(self, chain_id: int, markets: Sequence[Market], user: str) -> list[ReadPlan[Position | None]]:
        return [position_plan(chain_id, m, user) for m in markets if isinstance(m, EigenLayerMarket)]

    def resolve(self, intent: Intent, chain: ChainRegistry) -> TxTarget | None:
        for m in self.markets(chain):
            if not isinstance(m, EigenLayerMarket):
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
            if isinstance(m, EigenLayerMarket):
                out.update((m.asset.address.lower(), m.strategy_manager.lower()))
        return out


ADAPTER = EigenLayerAdapter()
