"""The one shape every protocol adapter has (Aave v3, Compound v3, EigenLayer, any later one).

An adapter turns a protocol into four things the shared code runs without knowing the protocol:

1. **discovery** — from the registry's *roots* of one protocol instance (e.g. an Aave
   PoolAddressesProvider, a Comet proxy, an EigenLayer StrategyManager) to the markets it holds
   (`discovery_plan` → `Discovery`), so the registry never lists markets by hand;
2. a **market read plan** per market (`market_plans` → `MarketSnapshot`s);
3. a **position read plan** per user (`position_plans` → `ChainPosition | None`);
4. **transaction steps**: `resolve` an intent to a `TxTarget`, the view calls the step needs
   (`step_reads`), the ordered calls (`plan_step` → `StepPlan`) and the contracts a transaction
   may be sent to (`allowed_targets`).

Read plans are `tidewatch.chain.plan.ReadPlan`s: the shared executor runs every plan of every
adapter of a chain in the same two JSON-RPC round trips, and a plan that fails fails alone.
Everything here is pure: adapters build calls and decode results; they never do I/O.

Adapters are registered in `tidewatch.protocols.adapters` (slug → adapter); shared code calls
`adapter_for(slug)` and never branches on a protocol name or market type.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from tidewatch.chain.multicall import Call, CallResult
from tidewatch.chain.plan import ReadPlan
from tidewatch.protocols.models import ChainPosition, MarketFailure, MarketSnapshot
from tidewatch.protocols.registry import Asset, ChainRegistry, Market, Root
from tidewatch.transactions.models import DecodedCall, Intent
from tidewatch.transactions.settings import WalletSettings

__all__ = [
    "Discovery",
    "PlannedCall",
    "ProtocolAdapter",
    "StepPlan",
    "TxTarget",
]


@dataclass(frozen=True)
class Discovery:
    """What one root (one protocol instance on one chain) holds at the block it was read.

    `markets` are registry market models (the same types a registry file may list). `failures`
    are the markets found but unreadable (a reserve whose token reverts on `symbol()`, …): they
    are reported in the tick's result and skipped, never guessed.
    """

    root: Root
    block_number: int
    markets: tuple[Market, ...]
    failures: tuple[MarketFailure, ...] = ()
    # Protocol-level facts shared by the instance's markets (e.g. Aave eMode categories), and
    # "fingerprint": the decoded results of `fingerprint_calls(root)` at discovery time.
    instance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TxTarget:
    """Where an intent lands: the market, the token moved and the contract that pulls or pays it."""

    intent: Intent
    market: Market
    token: Asset
    spender: str  # the contract called (and approved, when tokens flow in)
    # Adapter-private facts the later steps need (e.g. Comet: is the token the base asset).
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedCall:
    to: str
    data: bytes
    decoded: DecodedCall
    summary: str


@dataclass(frozen=True)
class StepPlan:
    """The ordered calls of one step; `pulls` is what the protocol will `transferFrom` the owner
    (the shared planner prepends an ERC-20 approval when the allowance is short); `received` is
    what the step sends to the owner (a later step of the same bundle may spend it)."""

    calls: list[PlannedCall]
    received: int = 0
    pulls: int = 0


class ProtocolAdapter(ABC):
    """One protocol. Subclasses set the class variables and implement the abstract methods."""

    slug: ClassVar[str]  # "aave-v3": the `protocol` of its markets, snapshots and positions
    name: ClassVar[str]  # "Aave v3": for summaries shown to users
    # intent action -> supported; `max_actions`: actions that accept amount "max".
    actions: ClassVar[frozenset[str]]
    max_actions: ClassVar[frozenset[str]] = frozenset()

    # -- discovery ---------------------------------------------------------------------------

    def discovery_plan(self, chain_id: int, root: Root) -> ReadPlan[Discovery] | None:
        """A read plan from the root's contracts to its markets; None when the root lists its
        markets itself (nothing to discover)."""
        return None

    def fingerprint_calls(self, root: Root) -> list[Call]:
        """Cheap calls whose results change when the root's market list changes (Aave:
        `getReservesList`). They ride in the first round trip of every read, so a cached
        discovery is refreshed as soon as a market is added, at no extra round trip."""
        return []

    # -- reads -------------------------------------------------------------------------------

    def markets(self, chain: ChainRegistry) -> list[Market]:
        """This adapter's markets on `chain` (listed and discovered)."""
        return [m for m in chain.markets if m.protocol == self.slug]

    @abstractmethod
    def market_plans(self, chain_id: int, markets: Sequence[Market]) -> list[ReadPlan[MarketSnapshot]]:
        """One plan per market; each builds a `MarketSnapshot` with `protocol == slug`."""

    @abstractmethod
    def position_plans(
        self, chain_id: int, markets: Sequence[Market], user: str
    ) -> list[ReadPlan[ChainPosition | None]]:
        """The plans that read `user`'s positions in `markets` (None: no position there)."""

    def liquidation_thresholds(
        self, market_key: str, asset_symbol: str, params: dict[str, Any]
    ) -> dict[tuple[str, str], Decimal]:
        """From a stored snapshot's `params`: (account market key lower, collateral symbol upper)
        → liquidation threshold (fraction), as the risk model needs it. Empty: not liquidatable."""
        return {}

    # -- transactions ------------------------------------------------------------------------

    @abstractmethod
    def resolve(self, intent: Intent, chain: ChainRegistry) -> TxTarget | None:
        """The market, token and spender an intent addresses; None when nothing on `chain` matches.
        Raise `UnsupportedIntent` for an ambiguous intent."""

    @abstractmethod
    def step_reads(self, target: TxTarget) -> list[Call]:
        """View calls `plan_step` needs, read at the pending state. The shared planner always
        reads [wallet balance, allowance(owner, spender)] first; these follow them."""

    @abstractmethod
    def plan_step(
        self,
        target: TxTarget,
        wallet_balance: int,
        results: list[CallResult],
        settings: WalletSettings,
    ) -> StepPlan:
        """The protocol call(s) of one step. `wallet_balance` includes what earlier steps of the
        bundle credit; `results` are those of `step_reads(target)`. Raise `AmountExceedsBalance` /
        `UnsupportedIntent` with a message the user can act on."""

    @abstractmethod
    def allowed_targets(self, chain: ChainRegistry) -> set[str]:
        """Every contract (lower-case address) a transaction of this protocol may be sent to."""

    # -- rule strategies (repay to a health factor, move supply between markets) -------------

    def market_for(self, chain: ChainRegistry, market_key: str, asset_address: str) -> Market | None:
        """The registry market a stored market row (key, asset) refers to."""
        for m in self.markets(chain):
            if m.key.lower() == market_key.lower():
                return m
        return None

    def supplied_call(self, market: Market, owner: str) -> Call | None:
        """A view call whose first output is what `owner` supplies to `market` (base units), or
        None when supply in this protocol cannot be moved by a rule."""
        return None

    def intent_fields(self, market: Market) -> dict[str, Any] | None:
        """The `Intent` fields (protocol, market) that address `market`; None: not addressable."""
        return None

    def repay_to_health_factor_reads(self, market: Market, owners: Sequence[str]) -> list[Call] | None:
        """View calls to plan a repay back to a health factor (None: not supported here)."""
        return None

    def repay_to_health_factor_intent(
        self,
        market: Market,
        owners: Sequence[str],
        results: list[CallResult],
        target_health_factor: Decimal,
    ) -> dict[str, Any]:
        """From `repay_to_health_factor_reads` results: the repay intent's fields (from, asset,
        amount), for the riskiest owner. Raise `UnsupportedIntent` / `AmountExceedsBalance`."""
        raise NotImplementedError
