"""From an intent to the calls that carry it out, against the market registry (pure functions).

The protocol-specific part of every step lives in the protocol's adapter
(`tidewatch.protocols.adapters`): `resolve` finds the market, token and spender, `reads` lists
the view calls the plan needs (wallet balance and allowance here, then the adapter's), which the
preparer batches through Multicall3 for all intents at once; `plan_step` asks the adapter for the
protocol call and prepends ERC-20 approvals only when the allowance is short (`approvals`:
approve(0) first for tokens such as USDT that refuse to change a non-zero allowance).
"""

from __future__ import annotations

from tidewatch.chain import abi
from tidewatch.chain.multicall import Call, CallResult
from tidewatch.protocols.adapter import PlannedCall, StepPlan, TxTarget
from tidewatch.protocols.adapters import adapter_for, all_adapters
from tidewatch.protocols.registry import Asset, ChainRegistry
from tidewatch.transactions.amounts import MAX_UINT256, repay_max_allowance, to_base_units, units
from tidewatch.transactions.errors import ContractNotAllowed, UnsupportedIntent
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

__all__ = [
    "MAX_UINT256",
    "PlannedCall",
    "StepPlan",
    "Target",
    "allowed_targets",
    "approvals",
    "check_targets",
    "needs_approve_reset",
    "plan",
    "plan_step",
    "reads",
    "repay_max_allowance",
    "resolve",
    "to_base_units",
    "units",
]

Target = TxTarget


def resolve(intent: Intent, chain: ChainRegistry) -> TxTarget:
    """The registry market an intent addresses; 422 when the asset/market is not listed."""
    target = adapter_for(intent.protocol).resolve(intent, chain)
    if target is None:
        where = f" in market {intent.market}" if intent.market else ""
        raise UnsupportedIntent(
            f"{intent.protocol} has no {intent.asset}{where} on chain {intent.chain_id} in the registry",
            field="asset",
        )
    return target


def reads(target: TxTarget) -> list[Call]:
    """View calls the plan needs, in a fixed order: [balance, allowance, adapter reads...]."""
    owner = target.intent.from_address
    token = target.token.address
    return [
        Call(token, abi.ERC20_BALANCE_OF, (owner,)),
        Call(token, abi.ERC20_ALLOWANCE, (owner, target.spender)),
        *adapter_for(target.market.protocol).step_reads(target),
    ]


def _approve(target: TxTarget, amount: int) -> PlannedCall:
    t = target.token
    name = adapter_for(target.market.protocol).name
    if amount == 0:
        return PlannedCall(
            to=t.address,
            data=abi.ERC20_APPROVE.encode(target.spender, 0),
            decoded=DecodedCall(function=abi.ERC20_APPROVE.signature, args={"spender": target.spender, "amount": "0"}),
            summary=f"Reset the {t.symbol} allowance of {name} ({target.spender}) to 0"
            f" ({t.symbol} refuses to change a non-zero allowance)",
        )
    return PlannedCall(
        to=t.address,
        data=abi.ERC20_APPROVE.encode(target.spender, amount),
        decoded=DecodedCall(
            function=abi.ERC20_APPROVE.signature, args={"spender": target.spender, "amount": str(amount)}
        ),
        summary=f"Approve {units(amount, t.decimals)} {t.symbol} for {name} ({target.spender})",
    )


def plan(target: TxTarget, results: list[CallResult], settings: WalletSettings) -> list[PlannedCall]:
    """The ordered calls for `target`, given the results of `reads(target)` at the pending state."""
    return plan_step(target, results, settings).calls


def plan_step(target: TxTarget, results: list[CallResult], settings: WalletSettings, *, credit: int = 0) -> StepPlan:
    """Like `plan`, for one step of a bundle: `credit` is what earlier steps of the bundle put in
    the owner's wallet (e.g. the withdrawal before a supply when moving funds between markets)."""
    wallet_balance, allowance = results[0].one() + credit, results[1].one()
    step = adapter_for(target.market.protocol).plan_step(target, wallet_balance, results[2:], settings)
    calls = list(step.calls)
    if step.pulls and allowance < step.pulls:
        calls[:0] = approvals(target, allowance, step.pulls if settings.approve_exact else MAX_UINT256)
    return StepPlan(calls, received=step.received, pulls=step.pulls)


# Tokens whose approve() reverts when changing one non-zero allowance to another (approve to 0
# first), by chain: Tether USD on Ethereum (TetherToken.approve's "require(!((_value != 0) &&
# (allowed[msg.sender][_spender] != 0)))"). A registry asset can also say so (`approve_reset`).
APPROVE_RESET_TOKENS: frozenset[tuple[int, str]] = frozenset({(1, "0xdac17f958d2ee523a2206206994597c13d831ec7")})


def needs_approve_reset(chain_id: int, token: Asset) -> bool:
    return token.approve_reset or (chain_id, token.address.lower()) in APPROVE_RESET_TOKENS


def approvals(target: TxTarget, allowance: int, amount: int) -> list[PlannedCall]:
    """approve(amount), preceded by approve(0) when a non-zero allowance is left on a token that
    refuses to change it directly. Tokens that return no bool are fine: the simulation checks
    the call's status, never a return value."""
    calls = []
    if allowance and needs_approve_reset(target.intent.chain_id, target.token):
        calls.append(_approve(target, 0))
    calls.append(_approve(target, amount))
    return calls


def allowed_targets(chain: ChainRegistry) -> frozenset[str]:
    """Every contract Tidewatch may send a transaction to on `chain` (lower-case addresses)."""
    out: set[str] = set()
    for adapter in all_adapters():
        out |= adapter.allowed_targets(chain)
    return frozenset(out)


def check_targets(calls: list[PlannedCall], chain: ChainRegistry) -> None:
    allowed = allowed_targets(chain)
    for call in calls:
        if call.to.lower() not in allowed:
            raise ContractNotAllowed(f"{call.to} is not a registry contract on chain {chain.chain_id}", to=call.to)
