"""Aave v3: reserve snapshots (AaveProtocolDataProvider + AaveOracle) and account positions (Pool)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan, no_prelude
from tidewatch.protocols.adapter import Discovery, PlannedCall, ProtocolAdapter, StepPlan, TxTarget
from tidewatch.protocols.models import ChainPosition, MarketFailure, MarketSnapshot, TokenAmount
from tidewatch.protocols.rates import aave_ray_apr_to_apy, aave_ray_to_apr, scaled
from tidewatch.protocols.registry import AaveV3Market, Asset, ChainRegistry, Market, Root
from tidewatch.transactions.amounts import MAX_UINT256, exceeds, matches, repay_amounts, requested, units, wallet_amount
from tidewatch.transactions.errors import AmountExceedsBalance, UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

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


EMODE_CATEGORIES_READ = 32  # category ids 1..32 are read at discovery (unused ones are empty)


def config_field(config: int, shift: int, bits: int) -> int:
    return (config >> shift) & ((1 << bits) - 1)


def decode_configuration(config: int) -> dict[str, Any]:
    """ReserveConfigurationMap as documented in Aave's ReserveConfiguration.sol (v3.0-v3.4)."""
    return {
        "ltv": config_field(config, 0, 16),
        "liquidation_threshold": config_field(config, 16, 16),
        "liquidation_bonus": config_field(config, 32, 16),
        "decimals": config_field(config, 48, 8),
        "is_active": bool(config_field(config, 56, 1)),
        "is_frozen": bool(config_field(config, 57, 1)),
        "borrowing_enabled": bool(config_field(config, 58, 1)),
        "is_paused": bool(config_field(config, 60, 1)),
        "reserve_factor": config_field(config, 64, 16),
        "borrow_cap": config_field(config, 80, 36),  # whole tokens, 0 = none
        "supply_cap": config_field(config, 116, 36),
        "emode_category": config_field(config, 168, 8),  # v3.0-v3.1; 0 from v3.2
    }


def token_symbol(text: CallResult, raw32: CallResult, address: str) -> tuple[str, str | None]:
    """A token's symbol: `string`, else `bytes32` (MKR), else a short address with a warning."""
    if text.ok:
        symbol = str(text.one()).strip("\x00").strip()
        if symbol:
            return symbol, None
    if raw32.ok:
        symbol = bytes(raw32.one()).rstrip(b"\x00").decode("utf-8", "replace").strip()
        if symbol:
            return symbol, None
    return f"{address[:6]}…{address[-4:]}", f"symbol() unreadable: {text.error or 'empty'}"


def discovery_plan(chain_id: int, root: Root) -> ReadPlan[Discovery]:
    """From an instance's Pool to its reserves (token metadata, configuration, caps) and eMode
    categories: `getReservesList` in the prelude, everything else in the main round trip."""
    pool, data_provider, oracle = root.contract("pool"), root.contract("data_provider"), root.contract("oracle")
    prelude = [Call(pool, abi.AAVE_GET_RESERVES_LIST)]

    def main(pre: list[CallResult]) -> list[Call]:
        calls: list[Call] = []
        for asset in pre[0].one():
            calls += [
                Call(asset, abi.ERC20_SYMBOL),
                Call(asset, abi.ERC20_SYMBOL_BYTES32),
                Call(pool, abi.AAVE_GET_CONFIGURATION, (asset,)),
            ]
        calls += [Call(pool, abi.AAVE_GET_EMODE_CATEGORY_DATA, (i,)) for i in range(1, EMODE_CATEGORIES_READ + 1)]
        return calls

    def build(pre: list[CallResult], r: list[CallResult], block: BlockRef) -> Discovery:
        assets = [abi.checksum(str(a)) for a in pre[0].one()]
        markets: list[Market] = []
        failures: list[MarketFailure] = []
        reserves: dict[str, dict[str, Any]] = {}
        for i, asset in enumerate(assets):
            symbol_text, symbol_raw, config = r[3 * i], r[3 * i + 1], r[3 * i + 2]
            if not config.ok:
                failures.append(
                    MarketFailure(chain_id=chain_id, protocol="aave-v3", market_key=asset, error=config.error or "")
                )
                continue
            fields = decode_configuration(config.one()[0])
            symbol, warning = token_symbol(symbol_text, symbol_raw, asset)
            if warning:
                failures.append(MarketFailure(chain_id=chain_id, protocol="aave-v3", market_key=asset, error=warning))
            markets.append(
                AaveV3Market(
                    pool=pool,
                    data_provider=data_provider,
                    oracle=oracle,
                    asset=Asset(symbol=symbol[:32], address=abi.checksum(asset), decimals=fields["decimals"]),
                    instance=root.instance,
                )
            )
            reserves[asset.lower()] = fields
        categories = {}
        for i, result in enumerate(r[3 * len(assets) :], start=1):
            if result.ok:
                ltv, lt, bonus, _source, label = result.one()
                if lt:
                    categories[i] = {
                        "ltv": ltv,
                        "liquidation_threshold": lt,
                        "liquidation_bonus": bonus,
                        "label": label,
                    }
        return Discovery(
            root=root,
            block_number=block.number,
            markets=tuple(markets),
            failures=tuple(failures),
            instance={
                "reserves": reserves,
                "emode_categories": categories,
                "fingerprint": (pre[0].all(),),  # getReservesList: see fingerprint_calls
            },
        )

    return ReadPlan(f"aave-v3:discover:{root.instance}", main, build, prelude)


def config_liquidation_threshold(config: int) -> int:
    """ReserveConfigurationMap bits 16-31: the reserve's liquidation threshold (bps)."""
    return (config >> 16) & 0xFFFF


def config_emode_category(config: int) -> int:
    """ReserveConfigurationMap bits 168-175: the reserve's eMode category (v3.0-v3.1; zero from
    v3.2 on, where categories list their assets in a bitmap instead)."""
    return (config >> 168) & 0xFF


def position_plan(
    chain_id: int, pool: str, reserves: Sequence[AaveV3Market], user: str
) -> ReadPlan[ChainPosition | None]:
    """The account data of `user` in one Aave pool, with per-reserve balances, prices and the
    liquidation threshold that applies to each collateral for this user (eMode-aware)."""
    prelude = [Call(pool, abi.AAVE_GET_USER_EMODE, (user,))]

    def main(pre: list[CallResult]) -> list[Call]:
        calls = [Call(pool, abi.AAVE_GET_USER_ACCOUNT_DATA, (user,))]
        for m in reserves:
            calls.append(Call(m.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (m.asset.address, user)))
            calls.append(Call(m.oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (m.asset.address,)))
            calls.append(Call(pool, abi.AAVE_GET_CONFIGURATION, (m.asset.address,)))
        category = pre[0].one()
        if category:
            calls.append(Call(pool, abi.AAVE_GET_EMODE_CATEGORY_DATA, (category,)))
        return calls

    def build(pre: list[CallResult], r: list[CallResult], _block: BlockRef) -> ChainPosition | None:
        collateral_base, debt_base, available, threshold, ltv, hf = r[0].all()
        category = pre[0].one()
        emode_threshold = r[1 + 3 * len(reserves)].one()[1] if category else 0
        supplied: list[TokenAmount] = []
        borrowed: list[TokenAmount] = []
        weighted = Decimal(0)  # sum of collateral value x threshold, to check against the Pool's
        for i, m in enumerate(reserves):
            data = r[1 + 3 * i].all()
            price = r[2 + 3 * i].one()
            config = r[3 + 3 * i].one()[0]
            a_balance, stable_debt, variable_debt, used_as_collateral = data[0], data[1], data[2], data[8]
            token = {"symbol": m.asset.symbol, "address": m.asset.address, "decimals": m.asset.decimals}
            price_usd = scaled(price, ORACLE_DECIMALS)
            if a_balance:
                lt_bps = config_liquidation_threshold(config)
                if category and config_emode_category(config) == category:
                    lt_bps = emode_threshold
                lt = scaled(lt_bps, 4) if used_as_collateral and lt_bps else None
                if lt is not None:
                    weighted += Decimal(a_balance) * Decimal(price) / Decimal(10) ** m.asset.decimals * lt
                supplied.append(TokenAmount(**token, amount=a_balance, price_usd=price_usd, liquidation_threshold=lt))
            if stable_debt + variable_debt:
                borrowed.append(TokenAmount(**token, amount=stable_debt + variable_debt, price_usd=price_usd))
        if not supplied and not borrowed and collateral_base == 0 and debt_base == 0:
            return None
        # The Pool's average threshold (bps, weighted by collateral value) is authoritative. When
        # the per-asset thresholds do not reproduce it (v3.2+ lists eMode assets in a bitmap, not
        # in the reserve configuration), every collateral gets the Pool's average: exact for the
        # account's current health factor.
        if collateral_base and threshold:
            derived = weighted / Decimal(collateral_base) * 10_000
            if abs(derived - threshold) > 1:
                average = scaled(threshold, 4)
                supplied = [
                    t.model_copy(update={"liquidation_threshold": average}) if t.liquidation_threshold else t
                    for t in supplied
                ]
        return ChainPosition(
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
                "emode_category": category,
                "emode_liquidation_threshold": emode_threshold,
            },
        )

    return ReadPlan(f"aave-v3:{pool}:{user}", main, build, prelude)


AAVE_VARIABLE_RATE = 2  # interestRateMode: the stable rate is gone from Aave v3.2 on
REFERRAL_CODE = 0
BPS = Decimal(10_000)
WAD_D = Decimal(10**18)
# Debt keeps accruing between preparation and inclusion: repay as if the debt were 1 bp larger,
# which covers ~9 hours at a 10 % borrow APR, so the factor lands at or just above the target.
INTEREST_MARGIN_BPS = Decimal(1)


class AaveV3Adapter(ProtocolAdapter):
    """Aave v3: one market per reserve; a position is the account across one Pool."""

    slug = "aave-v3"
    name = "Aave v3"
    actions = frozenset({"supply", "withdraw", "borrow", "repay"})
    max_actions = frozenset({"supply", "withdraw", "repay"})

    def discovery_plan(self, chain_id: int, root: Root) -> ReadPlan[Discovery] | None:
        return discovery_plan(chain_id, root)

    def fingerprint_calls(self, root: Root) -> list[Call]:
        return [Call(root.contract("pool"), abi.AAVE_GET_RESERVES_LIST)]

    def market_plans(self, chain_id: int, markets: Sequence[Market]) -> list[ReadPlan[MarketSnapshot]]:
        return [market_plan(chain_id, m) for m in markets if isinstance(m, AaveV3Market)]

    def position_plans(
        self, chain_id: int, markets: Sequence[Market], user: str
    ) -> list[ReadPlan[ChainPosition | None]]:
        pools: dict[str, list[AaveV3Market]] = {}
        for m in markets:
            if isinstance(m, AaveV3Market):
                pools.setdefault(m.pool, []).append(m)
        return [position_plan(chain_id, pool, reserves, user) for pool, reserves in pools.items()]

    def liquidation_thresholds(
        self, market_key: str, asset_symbol: str, params: dict[str, Any]
    ) -> dict[tuple[str, str], Decimal]:
        # Aave positions are keyed by pool; reserves by asset.
        if params.get("liquidation_threshold") is None:
            return {}
        pool = str(params.get("pool", market_key)).lower()
        return {(pool, asset_symbol.upper()): Decimal(str(params["liquidation_threshold"]))}

    def resolve(self, intent: Intent, chain: ChainRegistry) -> TxTarget | None:
        for m in self.markets(chain):
            if isinstance(m, AaveV3Market) and matches(m.asset, intent.asset):
                return TxTarget(intent, m, m.asset, m.pool)
        return None

    def step_reads(self, target: TxTarget) -> list[Call]:
        m = target.market
        assert isinstance(m, AaveV3Market)
        return [
            Call(m.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (target.token.address, target.intent.from_address))
        ]

    def plan_step(
        self, target: TxTarget, wallet_balance: int, results: list[CallResult], settings: WalletSettings
    ) -> StepPlan:
        intent, token, owner = target.intent, target.token, target.intent.from_address
        want = requested(intent, token.decimals)
        if intent.action == "supply":
            amount = wallet_amount(intent, token, wallet_balance)
            call = _call(
                target,
                abi.AAVE_SUPPLY,
                (token.address, amount, owner, REFERRAL_CODE),
                {"asset": token.address, "amount": str(amount), "onBehalfOf": owner, "referralCode": "0"},
                f"Supply {units(amount, token.decimals)} {token.symbol} to {self.name} on chain {intent.chain_id}",
            )
            return StepPlan([call], pulls=amount)
        if intent.action == "withdraw":
            supplied = results[0].all()[0]  # aToken balance
            if want is not None and want > supplied:
                raise exceeds("your supplied balance", want, supplied, token)
            if supplied == 0:
                raise exceeds("your supplied balance", want or 1, 0, token)
            amount = MAX_UINT256 if want is None else want
            shown = f"all ({units(supplied, token.decimals)})" if want is None else units(amount, token.decimals)
            call = _call(
                target,
                abi.AAVE_WITHDRAW,
                (token.address, amount, owner),
                {"asset": token.address, "amount": str(amount), "to": owner},
                f"Withdraw {shown} {token.symbol} from {self.name}",
            )
            return StepPlan([call], received=supplied if want is None else want)
        if intent.action == "borrow":
            assert want is not None
            call = _call(
                target,
                abi.AAVE_BORROW,
                (token.address, want, AAVE_VARIABLE_RATE, REFERRAL_CODE, owner),
                {
                    "asset": token.address,
                    "amount": str(want),
                    "interestRateMode": str(AAVE_VARIABLE_RATE),
                    "referralCode": "0",
                    "onBehalfOf": owner,
                },
                f"Borrow {units(want, token.decimals)} {token.symbol} from {self.name} at the variable rate",
            )
            return StepPlan([call], received=want)
        if intent.action == "repay":
            reserve = results[0].all()
            debt = reserve[1] + reserve[2]  # stable + variable
            if debt == 0:
                raise UnsupportedIntent(f"no {token.symbol} debt to repay on {self.name}", field="asset")
            amount, pulls, shown = repay_amounts(want, debt, wallet_balance, token, settings)
            call = _call(
                target,
                abi.AAVE_REPAY,
                (token.address, amount, AAVE_VARIABLE_RATE, owner),
                {
                    "asset": token.address,
                    "amount": str(amount),
                    "interestRateMode": str(AAVE_VARIABLE_RATE),
                    "onBehalfOf": owner,
                },
                f"Repay {shown} {token.symbol} of variable debt on {self.name}",
            )
            return StepPlan([call], pulls=pulls)
        raise UnsupportedIntent(f"{self.slug} does not support {intent.action}")

    def allowed_targets(self, chain: ChainRegistry) -> set[str]:
        out: set[str] = set()
        for m in self.markets(chain):
            if isinstance(m, AaveV3Market):
                out.update((m.asset.address.lower(), m.pool.lower()))
        return out

    def market_for(self, chain: ChainRegistry, market_key: str, asset_address: str) -> Market | None:
        # A stored Aave market row is keyed by its reserve (the underlying asset).
        for m in self.markets(chain):
            if m.asset.address.lower() == asset_address.lower():
                return m
        return None

    def supplied_call(self, market: Market, owner: str) -> Call | None:
        assert isinstance(market, AaveV3Market)
        return Call(market.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (market.asset.address, owner))

    def intent_fields(self, market: Market) -> dict[str, Any] | None:
        return {"protocol": self.slug}

    def repay_to_health_factor_reads(self, market: Market, owners: Sequence[str]) -> list[Call] | None:
        assert isinstance(market, AaveV3Market)
        asset = market.asset.address
        calls = [Call(market.oracle, abi.AAVE_ORACLE_GET_ASSET_PRICE, (asset,))]
        for owner in owners:
            calls += [
                Call(market.pool, abi.AAVE_GET_USER_ACCOUNT_DATA, (owner,)),
                Call(market.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (asset, owner)),
                Call(asset, abi.ERC20_BALANCE_OF, (owner,)),
            ]
        return calls

    def repay_to_health_factor_intent(
        self,
        market: Market,
        owners: Sequence[str],
        results: list[CallResult],
        target_health_factor: Decimal,
    ) -> dict[str, Any]:
        """The owner with the lowest health factor that owes the asset repays
        debt x (1 + 1 bp) - collateral x LT / target (base currency, converted with the oracle
        price, rounded up; the 1 bp covers interest accrued until inclusion), capped by that debt
        and the wallet balance."""
        assert isinstance(market, AaveV3Market)
        asset = market.asset
        price = Decimal(results[0].one())
        candidates: list[tuple[int, str, tuple[Any, ...], int, int]] = []
        for n, owner in enumerate(owners):
            account = results[1 + 3 * n].all()
            reserve = results[2 + 3 * n].all()
            debt = reserve[1] + reserve[2]
            if debt:
                candidates.append((account[5], owner, account, debt, results[3 + 3 * n].one()))
        if not candidates:
            raise UnsupportedIntent(
                f"no address of the portfolio owes {asset.symbol} on {self.name}", field="intent.market_id"
            )
        health, owner, account, debt, balance = min(candidates)
        collateral, total_debt, threshold = Decimal(account[0]), Decimal(account[1]), Decimal(account[3])
        target = target_health_factor
        allowed_debt = collateral * threshold / BPS / target
        if Decimal(health) / WAD_D >= target or total_debt <= allowed_debt:
            raise UnsupportedIntent(
                f"health factor of {owner} is already {Decimal(health) / WAD_D:.4f} >= {target}", field="intent"
            )
        repay_base = total_debt * (BPS + INTEREST_MARGIN_BPS) / BPS - allowed_debt  # USD, 8 decimals
        needed = int((repay_base * Decimal(10) ** asset.decimals / price).to_integral_value(ROUND_CEILING))
        if balance == 0:
            raise AmountExceedsBalance(
                f"{owner} holds no {asset.symbol} to repay {units(min(needed, debt), asset.decimals)} {asset.symbol}",
                field="intent",
                requested=str(min(needed, debt)),
                available="0",
            )
        common: dict[str, Any] = {"protocol": self.slug, "action": "repay", "from": owner, "asset": asset.address}
        if needed >= debt and balance >= debt:
            return {**common, "amount": "max"}
        # Partial when the wallet cannot cover it all: a smaller repayment still moves the factor up.
        return {**common, "amount_base_units": min(needed, debt, balance)}


def _call(
    target: TxTarget, fn: abi.Function, args: tuple[Any, ...], named: dict[str, Any], summary: str
) -> PlannedCall:
    return PlannedCall(
        to=target.spender,
        data=fn.encode(*args),
        decoded=DecodedCall(function=fn.signature, args=named),
        summary=summary,
    )


ADAPTER = AaveV3Adapter()
