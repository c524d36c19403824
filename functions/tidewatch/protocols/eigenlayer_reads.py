"""EigenLayer: strategy snapshots and what a staker owns since the slashing release.

A staker's position is read from the DelegationManager: `getWithdrawableShares(staker,
[strategy])` gives (withdrawable shares, deposit shares) — withdrawable = deposit shares ×
deposit scaling factor × slashing factor (docs/core/accounting/SharesAccounting.md), so a slash
of the staker's operator shows at once — and `getQueuedWithdrawals(staker)` gives each queued
withdrawal with the shares it would pay now (still slashable until it can complete, at
`startBlock + minWithdrawalDelayBlocks + 1`). Queued amounts are shown as `withdrawing`, not
as supplied. Shares convert to underlying through the strategy's `sharesToUnderlyingView`
(beacon-chain ETH: 1 share = 1 wei).

Without a `delegation_manager` in the registry (a pre-slashing deployment) the position falls
back to the strategy's deposit shares.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan, no_prelude
from tidewatch.protocols.models import ChainPosition, MarketSnapshot, TokenAmount
from tidewatch.protocols.rates import scaled
from tidewatch.protocols.registry import EigenLayerMarket

ONE_SHARE = 10**18
ETHEREUM_SECONDS_PER_BLOCK = 12  # post-merge slot time: completion time estimates only
BEACON_CHAIN_ETH_STRATEGY = "0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0"


def _price_call(m: EigenLayerMarket) -> list[Call]:
    if not m.price_oracle or (m.kind == "beacon" and not m.price_asset):
        return []
    return [Call(m.price_oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (m.price_asset or m.asset.address,))]


def _price(m: EigenLayerMarket, results: list[CallResult], warnings: list[str]) -> Decimal | None:
    if not results:
        return None
    if not results[0].ok:
        warnings.append(f"price oracle {m.price_oracle} failed for {m.asset.symbol}: {results[0].error}")
        return None
    return scaled(results[0].one(), 8)


def market_plan(chain_id: int, m: EigenLayerMarket) -> ReadPlan[MarketSnapshot]:
    calls: list[Call] = []
    if m.kind == "strategy":
        calls = [
            Call(m.strategy, abi.EIGEN_STRATEGY_TOTAL_SHARES),
            # StrategyBase holds exactly its underlying balance: that is the strategy's total value.
            Call(m.asset.address, abi.ERC20_BALANCE_OF, (m.strategy,)),
            Call(m.strategy, abi.EIGEN_STRATEGY_SHARES_TO_UNDERLYING, (ONE_SHARE,)),
        ]
    head = len(calls)
    if m.delegation_manager:
        calls.append(Call(m.delegation_manager, abi.EIGEN_DM_MIN_WITHDRAWAL_DELAY_BLOCKS))
    calls += _price_call(m)

    def build(_pre: list[CallResult], r: list[CallResult], block: BlockRef) -> MarketSnapshot:
        warnings: list[str] = []
        params: dict[str, Any] = {"strategy": m.strategy, "kind": m.kind}
        raw: dict[str, int] = {}
        total_underlying: int | None = None
        if m.kind == "strategy":
            total_shares, total_underlying, per_share = r[0].one(), r[1].one(), r[2].one()
            params.update(total_shares=total_shares, underlying_per_share=scaled(per_share, 18))
            raw = {"total_shares": total_shares, "underlying_per_1e18_shares": per_share}
        rest = r[head:]
        if m.delegation_manager:
            delay = rest[0]
            params["min_withdrawal_delay_blocks"] = delay.one() if delay.ok else None
            rest = rest[1:]
        price = _price(m, rest, warnings)
        if price is None and not warnings:
            warnings.append(f"no USD price source for {m.asset.symbol}")
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
            price_usd=price,
            params=params,
            raw=raw,
            warnings=warnings,
        )

    return ReadPlan(f"eigenlayer:{m.key}", no_prelude(calls), build)


def _queued_for(m: EigenLayerMarket, pre: list[CallResult]) -> list[tuple[int, int]]:
    """(start block, shares payable now) of each queued withdrawal that includes `m.strategy`."""
    withdrawals, shares = pre[1].all()
    out = []
    for w, payable in zip(withdrawals, shares, strict=True):
        strategies = [s.lower() for s in w[5]]
        if m.strategy.lower() in strategies:
            out.append((int(w[4]), int(payable[strategies.index(m.strategy.lower())])))
    return out


def position_plan(chain_id: int, m: EigenLayerMarket, user: str) -> ReadPlan[ChainPosition | None]:
    if not m.delegation_manager:
        return _deposit_shares_plan(chain_id, m, user)
    dm = m.delegation_manager
    prelude = [
        Call(dm, abi.EIGEN_DM_GET_WITHDRAWABLE_SHARES, (user, [m.strategy])),
        Call(dm, abi.EIGEN_DM_GET_QUEUED_WITHDRAWALS, (user,)),
        Call(dm, abi.EIGEN_DM_MIN_WITHDRAWAL_DELAY_BLOCKS),
    ]

    def to_underlying(shares: int) -> list[Call]:
        if m.kind == "beacon":
            return []
        return [Call(m.strategy, abi.EIGEN_STRATEGY_SHARES_TO_UNDERLYING, (shares,))]

    def main(pre: list[CallResult]) -> list[Call]:
        withdrawable = pre[0].all()[0][0]
        calls = to_underlying(withdrawable)
        for _start, shares in _queued_for(m, pre):
            calls += to_underlying(shares)
        return calls + _price_call(m)

    def build(pre: list[CallResult], r: list[CallResult], block: BlockRef) -> ChainPosition | None:
        withdrawable_list, deposit_list = pre[0].all()
        withdrawable, deposit = int(withdrawable_list[0]), int(deposit_list[0])
        queued = _queued_for(m, pre)
        if not withdrawable and not deposit and not queued:
            return None
        delay = int(pre[2].one())
        warnings: list[str] = []
        if m.kind == "beacon":
            amounts = [withdrawable] + [s for _, s in queued]
            rest = r
        else:
            amounts = [int(x.one()) for x in r[: 1 + len(queued)]]
            rest = r[1 + len(queued) :]
        price = _price(m, rest, warnings)
        token = {"symbol": m.asset.symbol, "address": m.asset.address, "decimals": m.asset.decimals}
        withdrawals = []
        for (start, shares), amount in zip(queued, amounts[1:], strict=True):
            completable = start + delay + 1
            left = max(0, completable - block.number)
            withdrawals.append(
                {
                    "shares": shares,
                    "amount": amount,
                    "start_block": start,
                    "completable_block": completable,
                    "completable_in_blocks": left,
                    "completable_at_estimate": block.timestamp + left * ETHEREUM_SECONDS_PER_BLOCK,
                }
            )
        return ChainPosition(
            chain_id=chain_id,
            protocol="eigenlayer",
            market_key=m.key,
            address=user,
            supplied=[TokenAmount(**token, amount=amounts[0], price_usd=price)] if withdrawable else [],
            withdrawing=[TokenAmount(**token, amount=w["amount"], price_usd=price) for w in withdrawals],
            account={
                "deposit_shares": deposit,
                "withdrawable_shares": withdrawable,
                "underlying": amounts[0],
                "withdrawals": withdrawals,
                "min_withdrawal_delay_blocks": delay,
            },
            warnings=warnings,
        )

    return ReadPlan(f"eigenlayer:{m.key}:{user}", main, build, prelude)


def _deposit_shares_plan(chain_id: int, m: EigenLayerMarket, user: str) -> ReadPlan[ChainPosition | None]:
    calls = [
        Call(m.strategy, abi.EIGEN_STRATEGY_SHARES, (user,)),
        Call(m.strategy, abi.EIGEN_STRATEGY_USER_UNDERLYING, (user,)),
        *_price_call(m),
    ]

    def build(_pre: list[CallResult], r: list[CallResult], _block: BlockRef) -> ChainPosition | None:
        shares, underlying = r[0].one(), r[1].one()
        if not shares:
            return None
        warnings = ["no DelegationManager in the registry: deposit shares, slashing not reflected"]
        price = _price(m, r[2:], warnings)
        token = {"symbol": m.asset.symbol, "address": m.asset.address, "decimals": m.asset.decimals}
        return ChainPosition(
            chain_id=chain_id,
            protocol="eigenlayer",
            market_key=m.key,
            address=user,
            supplied=[TokenAmount(**token, amount=underlying, price_usd=price)],
            account={"shares": shares, "underlying": underlying},
            warnings=warnings,
        )

    return ReadPlan(f"eigenlayer:{m.key}:{user}", no_prelude(calls), build)
