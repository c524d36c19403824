"""Aave v3: reserve snapshots (AaveProtocolDataProvider + AaveOracle) and account positions (Pool)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan, no_prelude
from tidewatch.protocols.models import MarketSnapshot, Position, TokenAmount
from tidewatch.protocols.rates import aave_ray_apr_to_apy, aave_ray_to_apr, scaled
from tidewatch.protocols.registry import AaveV3Market

MAX_UINT256 = 2**256 - 1
ORACLE_DECIMALS = 8  # AaveOracle BASE_CURRENCY_UNIT = 1e8 (USD) on Ethereum and Base


def market_plan(chain_id: int, m: AaveV3Market) -> ReadPlan[MarketSnapshot]:
    asset = m.asset.address
    calls = [
        Call(m.data_provider, abi.AAVE_DP_GET_RESERVE_DATA, (asset,)),
        Call(m.data_provider, abi.AAVE_DP_GET_RESERVE_CONFIGURATION, (asset,)),
        Call(m.oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (asset,)),
    ]

    def build(_pre: list[CallResult], r: list[CallResult], block: BlockRef) -> MarketSnapshot:
        reserve = r[0].all()
        total_a_token, total_stable, total_variable = reserve[2], reserve[3], reserve[4]
        liquidity_rate, variable_rate = reserve[5], reserve[6]
        _decimals, ltv, threshold, bonus, reserve_factor, collateral_ok, borrowing, _, active, frozen = r[1].all()
        price = r[2].one()
        borrowed = total_stable + total_variable
        return MarketSnapshot(
            chain_id=chain_id,
            protocol="aave-v3",
            market_key=m.key,
            asset_symbol=m.asset.symbol,
            asset_address=asset,
            asset_decimals=m.asset.decimals,
            block_number=block.number,
            block_timestamp=block.timestamp,
            supply_apy=aave_ray_apr_to_apy(liquidity_rate),
            borrow_apy=aave_ray_apr_to_apy(variable_rate),
            supply_apr=aave_ray_to_apr(liquidity_rate),
            borrow_apr=aave_ray_to_apr(variable_rate),
            # Aave's usage ratio: debt over all supplied liquidity (aToken supply).
            utilization=Decimal(borrowed) / Decimal(total_a_token) if total_a_token else Decimal(0),
            total_supplied=total_a_token,
            total_borrowed=borrowed,
            price_usd=scaled(price, ORACLE_DECIMALS),
            params={
                "ltv": scaled(ltv, 4),
                "liquidation_threshold": scaled(threshold, 4),
                "liquidation_bonus": scaled(bonus, 4),
                "reserve_factor": scaled(reserve_factor, 4),
                "usage_as_collateral_enabled": collateral_ok,
                "borrowing_enabled": borrowing,
                "is_active": active,
                "is_frozen": frozen,
                "pool": m.pool,
            },
            raw={"liquidity_rate_ray": liquidity_rate, "variable_borrow_rate_ray": variable_rate, "price_e8": price},
        )

    return ReadPlan(f"aave-v3:{m.key}", no_prelude(calls), build)


def position_plan(chain_id: int, pool: str, reserves: Sequence[AaveV3Market], user: str) -> ReadPlan[Position | None]:
    """The account data of `user` in one Aave pool, with per-reserve balances and prices."""
    calls = [Call(pool, abi.AAVE_GET_USER_ACCOUNT_DATA, (user,))]
    for m in reserves:
        calls.append(Call(m.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (m.asset.address, user)))
        calls.append(Call(m.oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (m.asset.address,)))

    def build(_pre: list[CallResult], r: list[CallResult], _block: BlockRef) -> Position | None:
        collateral_base, debt_base, available, threshold, ltv, hf = r[0].all()
        supplied: list[TokenAmount] = []
        borrowed: list[TokenAmount] = []
        for i, m in enumerate(reserves):
            data = r[1 + 2 * i].all()
            price = r[2 + 2 * i].one()
            a_balance, stable_debt, variable_debt = data[0], data[1], data[2]
            token = {"symbol": m.asset.symbol, "address": m.asset.address, "decimals": m.asset.decimals}
            if a_balance:
                supplied.append(TokenAmount(**token, amount=a_balance, price_usd=scaled(price, ORACLE_DECIMALS)))
            if stable_debt + variable_debt:
                borrowed.append(
                    TokenAmount(**token, amount=stable_debt + variable_debt, price_usd=scaled(price, ORACLE_DECIMALS))
                )
        if not supplied and not borrowed and collateral_base == 0 and debt_base == 0:
            return None
        return Position(
            chain_id=chain_id,
            protocol="aave-v3",
            market_key=pool,
            address=user,
            supplied=supplied,
            borrowed=borrowed,
            health_factor=None if hf == MAX_UINT256 else scaled(hf, 18),
            account={
                "total_collateral_base": collateral_base,
                "total_debt_base": debt_base,
                "available_borrows_base": available,
                "current_liquidation_threshold": threshold,
                "ltv": ltv,
                "health_factor_wad": hf,
                "base_currency_decimals": ORACLE_DECIMALS,
            },
        )

    return ReadPlan(f"aave-v3:{pool}:{user}", no_prelude(calls), build)
