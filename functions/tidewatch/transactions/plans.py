"""From an intent to the calls that carry it out, against the market registry (pure functions).

`resolve` finds the market, token and spender in the registry; `reads` lists the view calls the
plan needs (wallet balance, allowance, position), which the preparer batches through Multicall3
for all intents at once; `plan` turns their results into the ordered calls: an ERC-20 `approve`
only when the allowance is short, then the protocol call. Amount guardrails live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, CallResult
from tidewatch.protocols.registry import AaveV3Market, Asset, ChainRegistry, CompoundV3Market, EigenLayerMarket
from tidewatch.transactions.errors import AmountExceedsBalance, ContractNotAllowed, UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

MAX_UINT256 = 2**256 - 1
AAVE_VARIABLE_RATE = 2  # interestRateMode: stable rate is gone from Aave v3.2+
REFERRAL_CODE = 0


@dataclass(frozen=True)
class Target:
    """Where an intent lands: the market, the token moved and the contract that pulls/pays it."""

    intent: Intent
    market: AaveV3Market | CompoundV3Market | EigenLayerMarket
    token: Asset
    spender: str  # the contract called (and approved, when tokens flow in)

    @property
    def is_comet_base(self) -> bool:
        return isinstance(self.market, CompoundV3Market) and _same(self.token.address, self.market.asset.address)


@dataclass(frozen=True)
class PlannedCall:
    to: str
    data: bytes
    decoded: DecodedCall
    summary: str


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _matches(asset: Asset, wanted: str) -> bool:
    return _same(asset.address, wanted) if wanted.startswith("0x") else asset.symbol.lower() == wanted.lower()


def resolve(intent: Intent, chain: ChainRegistry) -> Target:
    """The registry market an intent addresses; 422 when the asset/market is not listed."""
    wanted = intent.asset
    if intent.protocol == "aave-v3":
        for m in chain.markets:
            if isinstance(m, AaveV3Market) and _matches(m.asset, wanted):
                return Target(intent, m, m.asset, m.pool)
    elif intent.protocol == "compound-v3":
        comets = [m for m in chain.markets if isinstance(m, CompoundV3Market)]
        if intent.market:
            comets = [m for m in comets if _same(m.comet, intent.market) or _matches(m.asset, intent.market)]
        for m in comets:
            for token in (m.asset, *m.collaterals):
                if _matches(token, wanted):
                    if intent.market is None and not _matches(m.asset, wanted) and len(comets) > 1:
                        continue  # a collateral in several markets: the caller must name the market
                    return Target(intent, m, token, m.comet)
        if intent.market is None and comets:
            raise UnsupportedIntent(f"{wanted} is collateral in several Comet markets: name the market")
    else:
        for m in chain.markets:
            if not isinstance(m, EigenLayerMarket):
                continue
            if intent.market and not _same(m.strategy, intent.market):
                continue
            if _matches(m.asset, wanted):
                return Target(intent, m, m.asset, m.strategy_manager)
    where = f" in market {intent.market}" if intent.market else ""
    raise UnsupportedIntent(
        f"{intent.protocol} has no {wanted}{where} on chain {intent.chain_id} in the registry", field="asset"
    )


def reads(target: Target) -> list[Call]:
    """View calls the plan needs, in a fixed order: [balance, allowance, position...]."""
    owner = target.intent.from_address
    token = target.token.address
    calls = [
        Call(token, abi.ERC20_BALANCE_OF, (owner,)),
        Call(token, abi.ERC20_ALLOWANCE, (owner, target.spender)),
    ]
    m = target.market
    if isinstance(m, AaveV3Market):
        calls.append(Call(m.data_provider, abi.AAVE_DP_GET_USER_RESERVE_DATA, (token, owner)))
    elif isinstance(m, CompoundV3Market):
        if target.is_comet_base:
            calls.append(Call(m.comet, abi.COMET_BALANCE_OF, (owner,)))
            calls.append(Call(m.comet, abi.COMET_BORROW_BALANCE_OF, (owner,)))
        else:
            calls.append(Call(m.comet, abi.COMET_COLLATERAL_BALANCE_OF, (owner, token)))
    return calls


def units(amount: int, decimals: int) -> str:
    """Base units to a human string without float noise: 1500000, 6 -> "1.5"."""
    value = Decimal(amount) / (Decimal(10) ** decimals)
    text = format(value.normalize(), "f")
    return text


def to_base_units(human: str, decimals: int) -> int:
    scaled = Decimal(human) * (Decimal(10) ** decimals)
    if scaled != scaled.to_integral_value():
        raise UnsupportedIntent(f"{human} has more than {decimals} decimals", field="amount")
    return int(scaled)


def _requested(intent: Intent, decimals: int) -> int | None:
    """The exact amount asked for, or None for "max"."""
    if intent.amount_base_units is not None:
        return intent.amount_base_units
    if intent.wants_max:
        return None
    assert intent.amount is not None
    return to_base_units(intent.amount, decimals)


def _exceeds(what: str, amount: int, available: int, token: Asset) -> AmountExceedsBalance:
    return AmountExceedsBalance(
        f"{units(amount, token.decimals)} {token.symbol} exceeds {what} of {units(available, token.decimals)} "
        f"{token.symbol}",
        field="amount",
        requested=str(amount),
        available=str(available),
    )


def _approve(target: Target, amount: int) -> PlannedCall:
    t = target.token
    if amount == 0:
        return PlannedCall(
            to=t.address,
            data=abi.ERC20_APPROVE.encode(target.spender, 0),
            decoded=DecodedCall(function=abi.ERC20_APPROVE.signature, args={"spender": target.spender, "amount": "0"}),
            summary=f"Reset the {t.symbol} allowance of {_protocol_name(target)} ({target.spender}) to 0"
            f" ({t.symbol} refuses to change a non-zero allowance)",
        )
    return PlannedCall(
        to=t.address,
        data=abi.ERC20_APPROVE.encode(target.spender, amount),
        decoded=DecodedCall(
            function=abi.ERC20_APPROVE.signature, args={"spender": target.spender, "amount": str(amount)}
        ),
        summary=f"Approve {units(amount, t.decimals)} {t.symbol} for {_protocol_name(target)} ({target.spender})",
    )


def _protocol_name(target: Target) -> str:
    return {"aave-v3": "Aave v3", "compound-v3": "Compound v3", "eigenlayer": "EigenLayer"}[target.market.protocol]


@dataclass(frozen=True)
class StepPlan:
    calls: list[PlannedCall]
    received: int  # tokens of `target.token` this step sends to the owner (a later step may spend them)


def plan(target: Target, results: list[CallResult], settings: WalletSettings) -> list[PlannedCall]:
    """The ordered calls for `target`, given the results of `reads(target)` at the pending state."""
    return plan_step(target, results, settings).calls


def plan_step(target: Target, results: list[CallResult], settings: WalletSettings, *, credit: int = 0) -> StepPlan:
    """Like `plan`, for one step of a bundle: `credit` is what earlier steps of the bundle put in
    the owner's wallet (e.g. the withdrawal before a supply when moving funds between markets)."""
    intent = target.intent
    token = target.token
    owner = intent.from_address
    wallet_balance, allowance = results[0].one() + credit, results[1].one()
    received = 0
    requested = _requested(intent, token.decimals)
    name = _protocol_name(target)
    m = target.market
    pulls = 0  # tokens the protocol will transferFrom the owner (needs an allowance)
    calls: list[PlannedCall] = []
    fn: abi.Function
    args: tuple[Any, ...]

    if intent.action in ("supply", "deposit"):
        amount = wallet_balance if requested is None else requested
        if amount == 0:
            raise _exceeds("your wallet balance", 1, 0, token)
        if amount > wallet_balance:
            raise _exceeds("your wallet balance", amount, wallet_balance, token)
        pulls = amount
        human = f"{units(amount, token.decimals)} {token.symbol}"
        if isinstance(m, AaveV3Market):
            fn, args = abi.AAVE_SUPPLY, (token.address, amount, owner, REFERRAL_CODE)
            named = {"asset": token.address, "amount": str(amount), "onBehalfOf": owner, "referralCode": "0"}
            summary = f"Supply {human} to {name} on chain {intent.chain_id}"
        elif isinstance(m, CompoundV3Market):
            fn, args = abi.COMET_SUPPLY, (token.address, amount)
            named = {"asset": token.address, "amount": str(amount)}
            kind = "base asset" if target.is_comet_base else "collateral"
            summary = f"Supply {human} ({kind}) to {name} {m.asset.symbol} market"
        else:
            assert isinstance(m, EigenLayerMarket)
            fn, args = abi.EIGEN_DEPOSIT_INTO_STRATEGY, (m.strategy, token.address, amount)
            named = {"strategy": m.strategy, "token": token.address, "amount": str(amount)}
            summary = f"Restake {human} into the EigenLayer {token.symbol} strategy"
        calls.append(_call(fn, args, named, summary, target))

    elif intent.action == "withdraw":
        if isinstance(m, AaveV3Market):
            supplied = results[2].all()[0]  # aToken balance
            if requested is not None and requested > supplied:
                raise _exceeds("your supplied balance", requested, supplied, token)
            if supplied == 0:
                raise _exceeds("your supplied balance", requested or 1, 0, token)
            amount = MAX_UINT256 if requested is None else requested
            received = supplied if requested is None else requested
            shown = f"all ({units(supplied, token.decimals)})" if requested is None else units(amount, token.decimals)
            calls.append(
                _call(
                    abi.AAVE_WITHDRAW,
                    (token.address, amount, owner),
                    {"asset": token.address, "amount": str(amount), "to": owner},
                    f"Withdraw {shown} {token.symbol} from {name}",
                    target,
                )
            )
        else:
            assert isinstance(m, CompoundV3Market)
            available = results[2].one()
            if target.is_comet_base and requested is None:
                if available == 0:
                    raise _exceeds("your supplied balance", 1, 0, token)
                amount, shown = MAX_UINT256, f"all ({units(available, token.decimals)})"
                received = available
            else:
                # Base withdrawals above the supplied balance would open a borrow: refuse, that is
                # not what "withdraw" means here. Collateral is bounded by its balance.
                amount = available if requested is None else requested
                if amount == 0 or amount > available:
                    raise _exceeds("your supplied balance", amount or 1, available, token)
                shown = units(amount, token.decimals)
                received = amount
            calls.append(
                _call(
                    abi.COMET_WITHDRAW,
                    (token.address, amount),
                    {"asset": token.address, "amount": str(amount)},
                    f"Withdraw {shown} {token.symbol} from {name} {m.asset.symbol} market",
                    target,
                )
            )

    elif intent.action == "borrow":
        assert isinstance(m, AaveV3Market)
        assert requested is not None
        received = requested
        calls.append(
            _call(
                abi.AAVE_BORROW,
                (token.address, requested, AAVE_VARIABLE_RATE, REFERRAL_CODE, owner),
                {
                    "asset": token.address,
                    "amount": str(requested),
                    "interestRateMode": str(AAVE_VARIABLE_RATE),
                    "referralCode": "0",
                    "onBehalfOf": owner,
                },
                f"Borrow {units(requested, token.decimals)} {token.symbol} from {name} at the variable rate",
                target,
            )
        )

    elif intent.action == "repay" and isinstance(m, CompoundV3Market):
        if not target.is_comet_base:
            raise UnsupportedIntent(f"only the base asset ({m.asset.symbol}) is borrowed on {name}", field="asset")
        debt = results[3].one()  # borrowBalanceOf
        if debt == 0:
            raise UnsupportedIntent(f"no {token.symbol} debt to repay on {name} {m.asset.symbol} market", field="asset")
        if requested is None:
            if debt > wallet_balance:
                raise _exceeds("your wallet balance (needed to repay the whole debt)", debt, wallet_balance, token)
            # supply(base, max) repays borrowBalanceOf at inclusion, interest included.
            pulls = repay_max_allowance(debt, settings)
            amount, shown = MAX_UINT256, f"all ({units(debt, token.decimals)})"
        else:
            if requested > debt:
                raise _exceeds('your debt (use "max" to repay all of it)', requested, debt, token)
            if requested > wallet_balance:
                raise _exceeds("your wallet balance", requested, wallet_balance, token)
            amount = pulls = requested
            shown = units(amount, token.decimals)
        calls.append(
            _call(
                abi.COMET_SUPPLY,
                (token.address, amount),
                {"asset": token.address, "amount": str(amount)},
                f"Repay {shown} {token.symbol} of debt on {name} {m.asset.symbol} market",
                target,
            )
        )

    elif intent.action == "repay":
        assert isinstance(m, AaveV3Market)
        reserve = results[2].all()
        debt = reserve[1] + reserve[2]  # stable + variable
        if debt == 0:
            raise UnsupportedIntent(f"no {token.symbol} debt to repay on {name}", field="asset")
        if requested is None:
            if debt > wallet_balance:
                raise _exceeds("your wallet balance (needed to repay the whole debt)", debt, wallet_balance, token)
            pulls = repay_max_allowance(debt, settings)
            amount, shown = MAX_UINT256, f"all ({units(debt, token.decimals)})"
        else:
            if requested > debt:
                raise _exceeds('your debt (use "max" to repay all of it)', requested, debt, token)
            if requested > wallet_balance:
                raise _exceeds("your wallet balance", requested, wallet_balance, token)
            amount = pulls = requested
            shown = units(amount, token.decimals)
        calls.append(
            _call(
                abi.AAVE_REPAY,
                (token.address, amount, AAVE_VARIABLE_RATE, owner),
                {
                    "asset": token.address,
                    "amount": str(amount),
                    "interestRateMode": str(AAVE_VARIABLE_RATE),
                    "onBehalfOf": owner,
                },
                f"Repay {shown} {token.symbol} of variable debt on {name}",
                target,
            )
        )
    else:  # pragma: no cover - Intent validation rejects other combinations
        raise UnsupportedIntent(f"{intent.protocol} does not support {intent.action}")

    if pulls and allowance < pulls:
        calls[:0] = approvals(target, allowance, pulls if settings.approve_exact else MAX_UINT256)
    return StepPlan(calls, received)


def repay_max_allowance(debt: int, settings: WalletSettings) -> int:
    """What a repay-all must approve: today's debt plus a buffer for the interest that accrues
    until inclusion. Never capped at the wallet balance: an allowance below the debt at
    inclusion makes repay(max) revert, while an allowance above the balance costs nothing."""
    return debt + debt * settings.repay_max_buffer_bps // 10_000 + 1


# Tokens whose approve() reverts when changing one non-zero allowance to another (approve to 0
# first), by chain: Tether USD on Ethereum (TetherToken.approve's "require(!((_value != 0) &&
# (allowed[msg.sender][_spender] != 0)))"). A registry asset can also say so (`approve_reset`).
APPROVE_RESET_TOKENS: frozenset[tuple[int, str]] = frozenset({(1, "0xdac17f958d2ee523a2206206994597c13d831ec7")})


def needs_approve_reset(chain_id: int, token: Asset) -> bool:
    return token.approve_reset or (chain_id, token.address.lower()) in APPROVE_RESET_TOKENS


def approvals(target: Target, allowance: int, amount: int) -> list[PlannedCall]:
    """approve(amount), preceded by approve(0) when a non-zero allowance is left on a token that
    refuses to change it directly. Tokens that return no bool are fine: the simulation checks
    the call's status, never a return value."""
    calls = []
    if allowance and needs_approve_reset(target.intent.chain_id, target.token):
        calls.append(_approve(target, 0))
    calls.append(_approve(target, amount))
    return calls


def _call(fn: abi.Function, args: tuple[Any, ...], named: dict[str, Any], summary: str, target: Target) -> PlannedCall:
    return PlannedCall(
        to=target.spender,
        data=fn.encode(*args),
        decoded=DecodedCall(function=fn.signature, args=named),
        summary=summary,
    )


def allowed_targets(chain: ChainRegistry) -> frozenset[str]:
    """Every contract Tidewatch may send a transaction to on `chain` (lower-case addresses)."""
    out: set[str] = set()
    for m in chain.markets:
        out.add(m.asset.address.lower())
        if isinstance(m, AaveV3Market):
            out.add(m.pool.lower())
        elif isinstance(m, CompoundV3Market):
            out.add(m.comet.lower())
            out.update(c.address.lower() for c in m.collaterals)
        else:
            out.add(m.strategy_manager.lower())
    return frozenset(out)


def check_targets(calls: list[PlannedCall], chain: ChainRegistry) -> None:
    allowed = allowed_targets(chain)
    for call in calls:
        if call.to.lower() not in allowed:
            raise ContractNotAllowed(f"{call.to} is not a registry contract on chain {chain.chain_id}", to=call.to)
