"""Compound III (Comet): market snapshots and account positions, everything discovered on chain.

A market is known by its Comet proxy only. Each read discovers, in the prelude round trip, the
collateral list (`numAssets`, `getAssetInfo(i)` for every slot Comet can hold: a slot past
`numAssets` reverts `BadAsset()` and is ignored), the base price feed, utilization and pause
flags; the main round trip reads rates, totals, reserves, every feed and (for positions) every
collateral balance. So a collateral that governance lists is read on the next tick, and no hand
list can miss one. Token symbols are cached per process (they never change).

Prices: `Comet.getPrice` answers in the market's numéraire with 8 decimals (USD for the USD
markets; ETH for cWETHv3, whose base feed is a constant 1e8 and collateral feeds X/ETH; wstETH,
BTC likewise). Values are converted to USD with the market's `usd_reference` (a Chainlink
AggregatorV3 on the same chain). A value that cannot be converted keeps `price_usd = None` and
the snapshot or position says why in `warnings`.

Health factor (Comet has none): Σ collateral × price × liquidateCollateralFactor / (borrow ×
base price), over every collateral the account holds; < 1 means liquidatable. It is checked
against Comet's own `isLiquidatable(account)` at the same block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tidewatch.chain import abi
from tidewatch.chain.multicall import BlockRef, Call, CallResult
from tidewatch.chain.plan import ReadPlan
from tidewatch.protocols.models import ChainPosition, MarketSnapshot, TokenAmount
from tidewatch.protocols.rates import WAD, comet_rate_to_apr, comet_rate_to_apy, scaled
from tidewatch.protocols.registry import CompoundV3Market

PRICE_DECIMALS = 8  # Comet.getPrice: the numéraire with 8 decimals
PRICE_SCALE = Decimal(10) ** PRICE_DECIMALS
FACTOR_DECIMALS = 18
# Comet's asset list holds at most 15 collaterals (24 with CometWithExtendedAssetList): reading
# every slot in the prelude keeps discovery inside the tick's two round trips.
MAX_ASSETS = 24
CONSTANT_NUMERAIRE_PRICE = 10**PRICE_DECIMALS  # ConstantPriceFeed(8, 1e8) of a non-USD market's base

_HEAD = (
    abi.COMET_NUM_ASSETS,
    abi.COMET_BASE_PRICE_FEED,
    abi.COMET_GET_UTILIZATION,
    abi.COMET_IS_SUPPLY_PAUSED,
    abi.COMET_IS_WITHDRAW_PAUSED,
    abi.COMET_IS_ABSORB_PAUSED,
    abi.COMET_IS_BUY_PAUSED,
)
_PAUSES = ("supply", "withdraw", "absorb", "buy")

# (chain id, token address lower) -> symbol: token symbols never change, read once per process.
_SYMBOLS: dict[tuple[int, str], str] = {}


@dataclass(frozen=True)
class CometAsset:
    offset: int
    address: str
    price_feed: str
    scale: int
    borrow_cf: Decimal
    liquidate_cf: Decimal
    liquidation_factor: Decimal
    supply_cap: int

    @property
    def decimals(self) -> int:
        return len(str(self.scale)) - 1


@dataclass(frozen=True)
class CometState:
    """What the prelude discovered about one Comet at the tick's block."""

    base_feed: str
    utilization: int
    paused: dict[str, bool]
    assets: tuple[CometAsset, ...]


def discovery_calls(m: CompoundV3Market) -> list[Call]:
    calls = [Call(m.comet, fn) for fn in _HEAD]
    calls += [Call(m.comet, abi.COMET_GET_ASSET_INFO, (i,)) for i in range(MAX_ASSETS)]
    return calls


def parse_discovery(pre: list[CallResult]) -> CometState:
    """The Comet's collateral list and state; raises (failing only this market) when the
    contract does not answer as a Comet."""
    count = pre[0].one()
    base_feed = abi.checksum(pre[1].one())
    utilization = pre[2].one()
    paused = {}
    for name, result in zip(_PAUSES, pre[3:7], strict=True):
        paused[name] = bool(result.one()) if result.ok else False
    infos = pre[len(_HEAD) :]
    if count > MAX_ASSETS:
        raise ValueError(f"Comet lists {count} collaterals, more than the {MAX_ASSETS} read")
    assets = []
    for i in range(count):
        if not infos[i].ok:
            raise ValueError(f"getAssetInfo({i}) failed: {infos[i].error}")
        offset, asset, feed, scale, bcf, lcf, lf, cap = infos[i].one()
        assets.append(
            CometAsset(
                offset=offset,
                address=abi.checksum(asset),
                price_feed=abi.checksum(feed),
                scale=scale,
                borrow_cf=scaled(bcf, FACTOR_DECIMALS),
                liquidate_cf=scaled(lcf, FACTOR_DECIMALS),
                liquidation_factor=scaled(lf, FACTOR_DECIMALS),
                supply_cap=cap,
            )
        )
    return CometState(base_feed, utilization, paused, tuple(assets))


def _symbol_calls(chain_id: int, m: CompoundV3Market, state: CometState) -> list[Call]:
    return [
        Call(a.address, abi.ERC20_SYMBOL)
        for a in state.assets
        if (chain_id, a.address.lower()) not in _SYMBOLS and _hint(m, a.address) is None
    ]


def _hint(m: CompoundV3Market, address: str) -> str | None:
    for c in m.collaterals:
        if c.address.lower() == address.lower():
            return c.symbol
    return None


def _symbols(
    chain_id: int, m: CompoundV3Market, state: CometState, queried: Sequence[str], results: list[CallResult]
) -> dict[str, str]:
    """Collateral address (lower) -> symbol; `queried` are the tokens whose symbol() was called
    (in `results`' order). An unreadable symbol comes back as the address."""
    read = {}
    for address, result in zip(queried, results, strict=True):
        if result.ok and isinstance(result.value, tuple) and str(result.value[0]).strip():
            read[address.lower()] = str(result.value[0])
            _SYMBOLS[(chain_id, address.lower())] = read[address.lower()]
    out: dict[str, str] = {}
    for a in state.assets:
        key = a.address.lower()
        out[key] = read.get(key) or _SYMBOLS.get((chain_id, key)) or _hint(m, a.address) or a.address
    return out


def _usd_reference_calls(m: CompoundV3Market) -> list[Call]:
    if m.numeraire == "USD" or m.usd_reference is None:
        return []
    return [Call(m.usd_reference, abi.CHAINLINK_LATEST_ROUND_DATA), Call(m.usd_reference, abi.CHAINLINK_DECIMALS)]


def _numeraire_usd(m: CompoundV3Market, results: list[CallResult], warnings: list[str]) -> Decimal | None:
    """USD per numéraire unit, or None (with the reason in `warnings`)."""
    if m.numeraire == "USD":
        return Decimal(1)
    if m.usd_reference is None:
        warnings.append(f"no USD reference for numéraire {m.numeraire}: values are not shown in USD")
        return None
    round_data, decimals = results
    if not round_data.ok or not decimals.ok:
        warnings.append(f"USD reference {m.usd_reference} failed: {round_data.error or decimals.error}")
        return None
    answer = round_data.all()[1]
    if answer <= 0:
        warnings.append(f"USD reference {m.usd_reference} answered {answer}")
        return None
    return scaled(answer, decimals.one())


def _check_numeraire(m: CompoundV3Market, base_price: int | None, warnings: list[str]) -> bool:
    """A non-USD market's base feed must be the constant 1e8 (the numéraire itself)."""
    if m.numeraire == "USD" or base_price is None:
        return True
    if base_price != CONSTANT_NUMERAIRE_PRICE:
        warnings.append(
            f"base price feed answers {base_price}, not the constant 1e8 of a {m.numeraire}-denominated market:"
            " numéraire unknown"
        )
        return False
    return True


def _price(result: CallResult) -> int | None:
    return int(result.one()) if result.ok else None


def _usd(price_e8: int | None, numeraire_usd: Decimal | None) -> Decimal | None:
    if price_e8 is None or numeraire_usd is None:
        return None
    return Decimal(price_e8) / PRICE_SCALE * numeraire_usd


def _pause_warnings(state: CometState) -> list[str]:
    return [f"{name} paused" for name, on in state.paused.items() if on]


# ----------------------------------------------------------------------------------- markets


def market_plan(chain_id: int, m: CompoundV3Market) -> ReadPlan[MarketSnapshot]:
    queried: list[str] = []  # tokens whose symbol() main() asked for (the cache may fill meanwhile)

    def main(pre: list[CallResult]) -> list[Call]:
        state = parse_discovery(pre)
        calls = [
            Call(m.comet, abi.COMET_GET_SUPPLY_RATE, (state.utilization,)),
            Call(m.comet, abi.COMET_GET_BORROW_RATE, (state.utilization,)),
            Call(m.comet, abi.COMET_TOTAL_SUPPLY),
            Call(m.comet, abi.COMET_TOTAL_BORROW),
            Call(m.comet, abi.COMET_GET_PRICE, (state.base_feed,)),
            Call(m.comet, abi.COMET_GET_RESERVES),
            Call(m.comet, abi.COMET_TARGET_RESERVES),
            Call(m.comet, abi.COMET_BASE_BORROW_MIN),
            Call(m.comet, abi.COMET_BASE_TOKEN),
        ]
        calls += [Call(m.comet, abi.COMET_GET_PRICE, (a.price_feed,)) for a in state.assets]
        calls += [Call(m.comet, abi.COMET_TOTALS_COLLATERAL, (a.address,)) for a in state.assets]
        symbols = _symbol_calls(chain_id, m, state)
        queried[:] = [c.target for c in symbols]
        return calls + symbols + _usd_reference_calls(m)

    def build(pre: list[CallResult], r: list[CallResult], block: BlockRef) -> MarketSnapshot:
        state = parse_discovery(pre)
        n = len(state.assets)
        supply_rate, borrow_rate, total_supply, total_borrow = (x.one() for x in r[:4])
        base_token = r[8].one()
        if base_token.lower() != m.asset.address.lower():
            raise ValueError(f"baseToken() is {base_token}, the registry says {m.asset.address}")
        warnings = _pause_warnings(state)
        base_price = _price(r[4])
        if base_price is None:
            warnings.append(f"base price feed {state.base_feed} reverted: {r[4].error}")
        prices = [_price(x) for x in r[9 : 9 + n]]
        totals = r[9 + n : 9 + 2 * n]
        n_symbols = len(queried)
        symbols = _symbols(chain_id, m, state, queried, r[9 + 2 * n : 9 + 2 * n + n_symbols])
        numeraire_usd = _numeraire_usd(m, r[9 + 2 * n + n_symbols :], warnings)
        if not _check_numeraire(m, base_price, warnings):
            numeraire_usd = None
        collaterals = []
        for a, price, total in zip(state.assets, prices, totals, strict=True):
            symbol = symbols[a.address.lower()]
            if symbol == a.address:
                warnings.append(f"collateral {a.address}: symbol() unreadable")
            if price is None:
                warnings.append(f"collateral {symbol}: price feed {a.price_feed} reverted")
            supplied = int(total.all()[0]) if total.ok else None
            collaterals.append(
                {
                    "symbol": symbol,
                    "address": a.address,
                    "decimals": a.decimals,
                    "price_feed": a.price_feed,
                    "price_numeraire": None if price is None else str(Decimal(price) / PRICE_SCALE),
                    "price_usd": _json_decimal(_usd(price, numeraire_usd)),
                    "borrow_collateral_factor": a.borrow_cf,
                    "liquidate_collateral_factor": a.liquidate_cf,
                    "liquidation_factor": a.liquidation_factor,
                    "supply_cap": a.supply_cap,
                    "total_supplied": supplied,
                    "cap_used": (
                        str(Decimal(supplied) / Decimal(a.supply_cap))
                        if supplied is not None and a.supply_cap
                        else None
                    ),
                }
            )
        reserves = r[5].one() if r[5].ok else None
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
            utilization=Decimal(state.utilization) / Decimal(WAD),
            total_supplied=total_supply,
            total_borrowed=total_borrow,
            price_usd=_usd(base_price, numeraire_usd),
            params={
                "comet": m.comet,
                "name": m.name,
                "numeraire": m.numeraire,
                "numeraire_usd": _json_decimal(numeraire_usd),
                "usd_reference": m.usd_reference,
                "base_price_numeraire": None if base_price is None else str(Decimal(base_price) / PRICE_SCALE),
                "reserves": reserves,
                "target_reserves": r[6].one() if r[6].ok else None,
                "base_borrow_min": r[7].one() if r[7].ok else None,
                "paused": state.paused,
                "collaterals": collaterals,
            },
            raw={
                "utilization_e18": state.utilization,
                "supply_rate_per_second_e18": supply_rate,
                "borrow_rate_per_second_e18": borrow_rate,
                **({"price_e8": base_price} if base_price is not None else {}),
            },
            warnings=warnings,
        )

    return ReadPlan(f"compound-v3:{m.key}", main, build, discovery_calls(m))


def _json_decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------------- positions


def position_plan(chain_id: int, m: CompoundV3Market, user: str) -> ReadPlan[ChainPosition | None]:
    queried: list[str] = []  # tokens whose symbol() main() asked for (the cache may fill meanwhile)

    def main(pre: list[CallResult]) -> list[Call]:
        state = parse_discovery(pre)
        calls = [
            Call(m.comet, abi.COMET_BALANCE_OF, (user,)),
            Call(m.comet, abi.COMET_BORROW_BALANCE_OF, (user,)),
            Call(m.comet, abi.COMET_IS_LIQUIDATABLE, (user,)),
            Call(m.comet, abi.COMET_GET_PRICE, (state.base_feed,)),
        ]
        calls += [Call(m.comet, abi.COMET_COLLATERAL_BALANCE_OF, (user, a.address)) for a in state.assets]
        calls += [Call(m.comet, abi.COMET_GET_PRICE, (a.price_feed,)) for a in state.assets]
        symbols = _symbol_calls(chain_id, m, state)
        queried[:] = [c.target for c in symbols]
        return calls + symbols + _usd_reference_calls(m)

    def build(pre: list[CallResult], r: list[CallResult], _block: BlockRef) -> ChainPosition | None:
        state = parse_discovery(pre)
        n = len(state.assets)
        supplied_base, borrowed_base = r[0].one(), r[1].one()
        amounts = [int(x.one()) for x in r[4 : 4 + n]]
        if not supplied_base and not borrowed_base and not any(amounts):
            return None
        warnings = _pause_warnings(state)
        base_price = _price(r[3])
        if base_price is None:
            warnings.append(f"base price feed {state.base_feed} reverted: {r[3].error}")
        prices = [_price(x) for x in r[4 + n : 4 + 2 * n]]
        n_symbols = len(queried)
        symbols = _symbols(chain_id, m, state, queried, r[4 + 2 * n : 4 + 2 * n + n_symbols])
        numeraire_usd = _numeraire_usd(m, r[4 + 2 * n + n_symbols :], warnings)
        if not _check_numeraire(m, base_price, warnings):
            numeraire_usd = None
        base_usd = _usd(base_price, numeraire_usd)
        base = {"symbol": m.asset.symbol, "address": m.asset.address, "decimals": m.asset.decimals}

        collateral: list[TokenAmount] = []
        held: list[tuple[CometAsset, int, int | None]] = []
        for a, amount, price in zip(state.assets, amounts, prices, strict=True):
            if not amount:
                continue
            symbol = symbols[a.address.lower()]
            if symbol == a.address:
                warnings.append(f"collateral {a.address}: symbol() unreadable")
            if price is None:
                warnings.append(f"collateral {symbol}: price feed {a.price_feed} reverted")
            held.append((a, amount, price))
            collateral.append(
                TokenAmount(
                    symbol=symbol,
                    address=a.address,
                    decimals=a.decimals,
                    amount=amount,
                    price_usd=_usd(price, numeraire_usd),
                )
            )

        is_liquidatable = bool(r[2].one()) if r[2].ok else None
        if r[2].ok is False:
            warnings.append(f"isLiquidatable reverted: {r[2].error}")
        health, limit, debt_value = _health(borrowed_base, m.asset.decimals, base_price, held)
        if borrowed_base and health is None:
            warnings.append("health factor unknown: a price it needs is missing")
        if health is not None and is_liquidatable is not None and (health < 1) != is_liquidatable:
            warnings.append(f"health factor {health:.4f} disagrees with isLiquidatable = {is_liquidatable}")
        return ChainPosition(
            chain_id=chain_id,
            protocol="compound-v3",
            market_key=m.key,
            address=user,
            supplied=[TokenAmount(**base, amount=supplied_base, price_usd=base_usd)] if supplied_base else [],
            borrowed=[TokenAmount(**base, amount=borrowed_base, price_usd=base_usd)] if borrowed_base else [],
            collateral=collateral,
            health_factor=health,
            account={
                "base_supplied": supplied_base,
                "base_borrowed": borrowed_base,
                "is_liquidatable": is_liquidatable,
                "numeraire": m.numeraire,
                "numeraire_usd": _json_decimal(numeraire_usd),
                "liquidation_limit_numeraire": _json_decimal(limit),
                "borrow_value_numeraire": _json_decimal(debt_value),
                "prices_numeraire": {
                    symbols[a.address.lower()]: None if p is None else str(Decimal(p) / PRICE_SCALE) for a, _, p in held
                },
            },
            warnings=warnings,
        )

    return ReadPlan(f"compound-v3:{m.key}:{user}", main, build, discovery_calls(m))


def _health(
    borrowed: int, base_decimals: int, base_price: int | None, held: Sequence[tuple[CometAsset, int, int | None]]
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(health factor, liquidation limit, debt value), both values in the numéraire."""
    if not borrowed:
        return None, None, None
    if base_price is None or any(p is None for _, _, p in held):
        return None, None, None
    debt = Decimal(borrowed) / Decimal(10) ** base_decimals * Decimal(base_price) / PRICE_SCALE
    limit = Decimal(0)
    for a, amount, price in held:
        assert price is not None
        limit += Decimal(amount) / Decimal(a.scale) * Decimal(price) / PRICE_SCALE * a.liquidate_cf
    return limit / debt, limit, debt
