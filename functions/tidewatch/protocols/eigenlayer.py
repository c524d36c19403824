"""EigenLayer: LST strategies (total value, share price) and a staker's shares in underlying."""

from __future__ import annotations

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan, no_prelude
from tidewatch.protocols.models import MarketSnapshot, Position, TokenAmount
from tidewatch.protocols.rates import scaled
from tidewatch.protocols.registry import EigenLayerMarket

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
