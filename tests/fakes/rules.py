"""Fakes of the rules area's ports.

`InMemoryRules` is a `RulesRepository` (tidewatch.rules.repository) with the plan usage it counts:
rows look as the Postgres adapter returns them (the definition as parsed JSON), and a unit of work
that raises is rolled back, as a transaction would be. `InMemoryRuleSources` is a
`RuleSourcesRepository` over rate rows, asset prices and position snapshots, answering as its
queries do. `InMemoryShardCounts` is a `ShardCountsRepository` over rule rows (bucket, id, what
each watches). `InMemoryWebhookQueue` is a `WebhookQueue` over webhook_deliveries rows: bodies
as `jsonb::text` gives them back, the values PostgreSQL refuses refused with its errors, a
deleted rule's pending retries cancelled (contract test
tests/integration/rules/test_webhook_queue_contract.py). The others stand in for the tick's
market, risk, push and wallet collaborators and for API Gateway's post_to_connection.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.fakes.postgres_values import integer_value, jsonb_text, text_value
from tests.fakes.unit_of_work import InMemoryUnitOfWork
from tidewatch.live.broadcaster import ConnectionGone
from tidewatch.rules.actions import PreparedTransaction, PrepareRequest
from tidewatch.rules.repository import RuleRecords, RuleValues
from tidewatch.rules.snapshot import MarketState, PriceWindow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class _State:
    plans: dict[int, str] = field(default_factory=dict)
    portfolios: dict[int, int] = field(default_factory=dict)  # portfolio id -> owner
    destinations: dict[int, int] = field(default_factory=dict)  # destination id -> owner
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    cancelled_deliveries: list[int] = field(default_factory=list)  # rule ids whose retries were cancelled
    next_id: int = 1


class InMemoryRules(InMemoryUnitOfWork[RuleRecords]):
    """Users with plans, their portfolios, destinations, rules, executions and notifications."""

    rolled_back = ("state",)

    def __init__(self) -> None:
        self.state = _State()
        self._tick = 0

    # Seeding, as other areas (identity, portfolios, alerts, the tick) would have written it.
    def _id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id - 1

    def _now(self) -> datetime:
        self._tick += 1
        return T0 + timedelta(seconds=self._tick)

    def add_user(self, plan: str = "free") -> int:
        user_id = self._id()
        self.state.plans[user_id] = plan
        return user_id

    def add_portfolio(self, user_id: int) -> int:
        portfolio_id = self._id()
        self.state.portfolios[portfolio_id] = user_id
        return portfolio_id

    def add_destination(self, user_id: int) -> int:
        destination_id = self._id()
        self.state.destinations[destination_id] = user_id
        return destination_id

    def add_execution(self, rule_id: int, *, fired: bool = False) -> int:
        execution_id = self._id()
        self.state.executions.append(
            {
                "id": execution_id,
                "rule_id": rule_id,
                "window_key": f"w{execution_id}",
                "evaluated_at": self._now(),
                "fired": fired,
                "observed": {},
                "actions": [],
                "error": None,
            }
        )
        return execution_id

    def add_notification(self, user_id: int, *, read: bool = False) -> int:
        notification_id = self._id()
        now = self._now()
        self.state.notifications.append(
            {
                "id": notification_id,
                "user_id": user_id,
                "kind": "rule.fired",
                "title": f"n{notification_id}",
                "body": {},
                "rule_id": None,
                "created_at": now,
                "read_at": now if read else None,
            }
        )
        return notification_id

    def store_definition(self, rule_id: int, definition: Any) -> None:
        """Overwrite a stored definition as a writer past the API could."""
        self.state.rules[rule_id]["definition"] = definition

    # RulesRepository
    def _records(self) -> RuleRecords:
        return _Records(self)


class _Records:
    def __init__(self, store: InMemoryRules) -> None:
        self._store = store

    @property
    def _state(self) -> _State:
        return self._store.state

    # PlanUsage
    def user_plan(self, user_id: int, *, lock: bool = False) -> str | None:
        return self._state.plans.get(user_id)

    def portfolio_count(self, user_id: int) -> int:
        return sum(1 for owner in self._state.portfolios.values() if owner == user_id)

    def enabled_rule_count(self, user_id: int) -> int:
        return sum(1 for r in self._state.rules.values() if r["user_id"] == user_id and r["enabled"])

    # RuleRecords
    def portfolio_owner(self, portfolio_id: int) -> int | None:
        return self._state.portfolios.get(portfolio_id)

    def owned_destinations(self, user_id: int, destination_ids: Sequence[int]) -> set[int]:
        return {d for d in destination_ids if self._state.destinations.get(d) == user_id}

    def find(self, user_id: int, rule_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        row = self._state.rules.get(rule_id)
        return dict(row) if row is not None and row["user_id"] == user_id else None

    def page(self, user_id: int, *, before: int, limit: int) -> list[dict[str, Any]]:
        rows = sorted(self._state.rules.values(), key=lambda r: int(r["id"]), reverse=True)
        return [dict(r) for r in rows if r["user_id"] == user_id and r["id"] < before][:limit]

    def insert(self, user_id: int, values: RuleValues) -> dict[str, Any]:
        rule_id = self._store._id()
        now = self._store._now()
        self._state.rules[rule_id] = {
            "id": rule_id,
            "user_id": user_id,
            "name": values.name,
            "portfolio_id": values.portfolio_id,
            "definition": json.loads(values.definition),
            "cadence_seconds": values.cadence_seconds,
            "cooldown_seconds": values.cooldown_seconds,
            "enabled": values.enabled,
            "disabled_reason": None,
            "armed": True,
            "last_fired_at": None,
            "created_at": now,
            "updated_at": now,
        }
        return dict(self._state.rules[rule_id])

    def update(self, user_id: int, rule_id: int, values: RuleValues, *, rearm: bool) -> dict[str, Any] | None:
        row = self._state.rules.get(rule_id)
        if row is None or row["user_id"] != user_id:
            return None
        row.update(
            name=values.name,
            portfolio_id=values.portfolio_id,
            definition=json.loads(values.definition),
            cadence_seconds=values.cadence_seconds,
            cooldown_seconds=values.cooldown_seconds,
            enabled=values.enabled,
            disabled_reason=None if values.enabled else row["disabled_reason"],
            armed=row["armed"] or rearm,
            updated_at=self._store._now(),
        )
        return dict(row)

    def delete(self, user_id: int, rule_id: int) -> None:
        row = self._state.rules.get(rule_id)
        if row is not None and row["user_id"] == user_id:
            self._state.cancelled_deliveries.append(rule_id)
            del self._state.rules[rule_id]

    def executions(self, rule_id: int, *, before: int, limit: int) -> list[dict[str, Any]]:
        rows = sorted(
            (e for e in self._state.executions if e["rule_id"] == rule_id and e["id"] < before),
            key=lambda e: e["id"],
            reverse=True,
        )
        return [{k: v for k, v in e.items() if k != "rule_id"} for e in rows[:limit]]

    def notifications(self, user_id: int, *, before: int, limit: int, unread_only: bool) -> list[dict[str, Any]]:
        rows = sorted(
            (
                n
                for n in self._state.notifications
                if n["user_id"] == user_id and n["id"] < before and (not unread_only or n["read_at"] is None)
            ),
            key=lambda n: n["id"],
            reverse=True,
        )
        return [{k: v for k, v in n.items() if k != "user_id"} for n in rows[:limit]]


# Collaborators of the rules tick and the live fan-out.


class FakeMarkets:
    def __init__(self, apy: dict[int, float]) -> None:
        self.apy = apy
        self.calls = 0

    def latest_markets(self) -> Sequence[MarketState]:
        self.calls += 1
        return [MarketState(m, v, v + 0.01) for m, v in self.apy.items()]

    def price_changes(self, windows: Sequence[PriceWindow], at: datetime) -> Mapping[PriceWindow, float]:
        return {}


class FakeRisk:
    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    def liquidation_probabilities(self, requests: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], float]:
        self.calls.append(list(requests))
        return {r: 0.4 for r in requests}


class FakePusher:
    def __init__(self) -> None:
        self.messages: list[tuple[int, Mapping[str, Any]]] = []

    def push_to_user(self, user_id: int, message: Mapping[str, Any]) -> int:
        self.messages.append((user_id, message))
        return 1


class FlakyPreparer:
    """Fails once, then succeeds: the action is retried within the tick."""

    def __init__(self) -> None:
        self.requests: list[PrepareRequest] = []

    def prepare(self, request: PrepareRequest) -> PreparedTransaction:
        self.requests.append(request)
        if len(self.requests) == 1:
            raise ConnectionError("wallet function timed out")
        return PreparedTransaction(transaction_id="tx-1", summary="Repay 100 USDC on Aave v3")


class DownPreparer:
    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    def prepare(self, request: PrepareRequest) -> PreparedTransaction:
        self.calls += 1
        if not self.up:
            raise ConnectionError("wallet function unavailable")
        return PreparedTransaction(transaction_id="tx-9", summary="Move supply")


@dataclass(frozen=True)
class Claims:
    user_id: int


class RecordingPoster:
    """post_to_connection that records what each connection got; some connections are Gone."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.endpoints: set[str] = set()
        self.gone = gone or set()
        self._lock = threading.Lock()

    def __call__(self, endpoint: str, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        with self._lock:
            self.endpoints.add(endpoint)
            self.sent.setdefault(connection_id, []).append(json.loads(data))


class InMemoryRuleSourceRecords:
    def __init__(self, owner: InMemoryRuleSources) -> None:
        self._owner = owner

    def latest_market_rows(self) -> list[dict[str, Any]]:
        self._owner.reads += 1
        latest: dict[int, dict[str, Any]] = {}
        for rate in self._owner.rates:
            best = latest.get(rate["market_id"])
            if best is None or rate["block_number"] > best["block_number"]:
                latest[rate["market_id"]] = rate
        out = []
        for market_id, rate in sorted(latest.items()):
            chain_id, asset_symbol = self._owner.markets[market_id]
            row = {k: rate[k] for k in ("market_id", "supply_apy", "borrow_apy", "price_usd", "observed_at")}
            out.append(row | {"chain_id": chain_id, "asset_symbol": asset_symbol})
        return out

    def _price(self, chain_id: int, asset: str, at: datetime) -> float | None:
        seen = [(t, p) for (c, a, t), p in self._owner.prices.items() if (c, a) == (chain_id, asset) and t <= at]
        return max(seen)[1] if seen else None

    def price_window_rows(
        self, chain_ids: Sequence[int], assets: Sequence[str], window_seconds: Sequence[int], at: datetime
    ) -> list[dict[str, Any]]:
        self._owner.reads += 1
        out = []
        for chain_id, asset, window in zip(chain_ids, assets, window_seconds, strict=True):
            now_price = self._price(chain_id, asset, at)
            then_price = self._price(chain_id, asset, at - timedelta(seconds=window))
            if now_price is not None and then_price is not None:
                out.append(
                    {
                        "chain_id": chain_id,
                        "asset": asset,
                        "window_seconds": window,
                        "now_price": now_price,
                        "then_price": then_price,
                    }
                )
        return out

    def latest_health_factor_rows(self, portfolio_ids: Sequence[int]) -> list[dict[str, Any]]:
        self._owner.reads += 1
        latest: dict[int, tuple[datetime, float | None]] = {}
        for portfolio_id, taken_at, hf in self._owner.snapshots:
            if portfolio_id in portfolio_ids and (portfolio_id not in latest or taken_at > latest[portfolio_id][0]):
                latest[portfolio_id] = (taken_at, hf)
        return [{"portfolio_id": p, "hf": hf} for p, (_, hf) in sorted(latest.items())]


class InMemoryRuleSources(InMemoryUnitOfWork[InMemoryRuleSourceRecords]):
    """A `RuleSourcesRepository`: markets, their rate rows, asset prices and position snapshots;
    `reads` counts the reads asked of it."""

    def __init__(self) -> None:
        self.markets: dict[int, tuple[int, str]] = {}  # market id -> (chain id, asset symbol)
        self.rates: list[dict[str, Any]] = []
        self.prices: dict[tuple[int, str, datetime], float] = {}
        self.snapshots: list[tuple[int, datetime, float | None]] = []  # (portfolio id, taken at, lowest HF)
        self.reads = 0

    def add_market(self, market_id: int, chain_id: int, asset_symbol: str) -> None:
        self.markets[market_id] = (chain_id, asset_symbol)

    def add_rate(
        self,
        market_id: int,
        block: int,
        observed_at: datetime,
        *,
        supply_apy: float | None,
        borrow_apy: float | None,
        price_usd: float | None,
    ) -> None:
        self.rates.append(
            {
                "market_id": market_id,
                "block_number": block,
                "observed_at": observed_at,
                "supply_apy": supply_apy,
                "borrow_apy": borrow_apy,
                "price_usd": price_usd,
            }
        )

    def add_price(self, chain_id: int, asset: str, observed_at: datetime, price_usd: float) -> None:
        self.prices[(chain_id, asset, observed_at)] = price_usd

    def add_snapshot(self, portfolio_id: int, taken_at: datetime, min_health_factor: float | None) -> None:
        self.snapshots.append((portfolio_id, taken_at, min_health_factor))

    def _records(self) -> InMemoryRuleSourceRecords:
        return InMemoryRuleSourceRecords(self)


@dataclass(frozen=True)
class ShardRow:
    """What the coordinator's counts see of one rule."""

    rule_id: int
    bucket: int
    enabled: bool = True
    watched_markets: frozenset[int] = frozenset()
    watches_prices: bool = False


class InMemoryShardCounts(InMemoryUnitOfWork["InMemoryShardCounts"]):
    """A `ShardCountsRepository` over `ShardRow`s, answering as its queries do."""

    def __init__(self, rows: Sequence[ShardRow]) -> None:
        self.rows = list(rows)

    def _records(self) -> InMemoryShardCounts:
        return self

    def _counted(self, markets: list[int] | None) -> list[ShardRow]:
        return [
            r
            for r in self.rows
            if r.enabled and (markets is None or r.watches_prices or bool(r.watched_markets & set(markets)))
        ]

    def bucket_counts(self, markets: list[int] | None) -> dict[int, int]:
        counts: dict[int, int] = {}
        for r in self._counted(markets):
            counts[r.bucket] = counts.get(r.bucket, 0) + 1
        return counts

    def bucket_cuts(self, bucket: int, fractions: Sequence[float], markets: list[int] | None) -> list[int]:
        ids = sorted(r.rule_id for r in self._counted(markets) if r.bucket == bucket)
        # percentile_disc: the first id whose cumulative share reaches the fraction.
        return [ids[max(math.ceil(f * len(ids)), 1) - 1] for f in fractions] if ids else []


@dataclass
class TickRule:
    """A stored rule as the tick sees it; `definition` is the stored JSON (as parsed)."""

    user_id: int
    definition: dict[str, Any]
    bucket: int = 0
    portfolio_id: int | None = None
    name: str = "r"
    cadence_seconds: int = 60
    cooldown_seconds: int = 3600
    enabled: bool = True
    armed: bool = True
    last_fired_at: datetime | None = None
    disabled_reason: str | None = None


class InMemoryRuleTick(InMemoryUnitOfWork["InMemoryRuleTick"]):
    """A `RuleTickRepository` over `TickRule`s: loads flatten every definition (no stored
    predicates, as for rules written past the repository), firings are unique per (rule, window),
    a unit of work that raises is rolled back."""

    rolled_back = ("rules", "executions", "notifications")

    def __init__(self) -> None:
        self.rules: dict[int, TickRule] = {}
        self.executions: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []

    def _records(self) -> InMemoryRuleTick:
        return self

    def add(self, rule: TickRule) -> int:
        rule_id = len(self.rules) + 1
        self.rules[rule_id] = rule
        return rule_id

    @contextmanager
    def snapshot(self) -> Iterator[InMemoryRuleTick]:
        yield self

    def _in(self, f: Mapping[str, Any], rule_id: int, r: TickRule) -> bool:
        return r.enabled and f["bucket_lo"] <= r.bucket <= f["bucket_hi"] and f["id_lo"] <= rule_id <= f["id_hi"]

    def shard_rules(self, shard_filter: Mapping[str, Any]) -> Any:
        import numpy as np

        from tidewatch.rules.repository import RULE_FIELDS, native_dtype

        names = [("last_fired", "<f8") if n == "last_fired_at" else (n, k) for n, k in RULE_FIELDS]
        picked = [(i, r) for i, r in sorted(self.rules.items()) if self._in(shard_filter, i, r)]
        out = np.zeros(len(picked), dtype=native_dtype(names))
        for k, (i, r) in enumerate(picked):
            last = r.last_fired_at.timestamp() if r.last_fired_at else float("nan")
            crc = hash(json.dumps(r.definition, sort_keys=True))
            out[k] = (i, r.user_id, r.portfolio_id or 0, r.cadence_seconds, r.cooldown_seconds, r.armed, last, crc)
        return out

    def stored_predicates(self, shard_filter: Mapping[str, Any]) -> Any:
        import numpy as np

        from tidewatch.rules.repository import PREDICATE_FIELDS, native_dtype

        return np.zeros(0, dtype=native_dtype(PREDICATE_FIELDS))

    def flattened_predicates(self, rule_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        from pydantic import ValidationError

        from tidewatch.rules.model import RuleDefinition
        from tidewatch.rules.repository import UnconvertibleDefinition
        from tidewatch.rules.ruleset import MODE_CODES, MODE_NONE, predicate_row

        rows: list[tuple[Any, ...]] = []
        for rule_id in sorted(rule_ids):
            r = self.rules[rule_id]
            try:
                definition = RuleDefinition.model_validate(r.definition)
            except ValidationError as exc:
                raise UnconvertibleDefinition(str(exc)) from exc
            cond = definition.conditions
            mode = MODE_NONE if cond is None else MODE_CODES[cond.mode]
            items = [definition.trigger, *(cond.items if cond else [])]
            for ord_, item in enumerate(items):
                rows.append((*predicate_row(rule_id, ord_ == 0, r.portfolio_id, item), mode, ord_))
        return rows

    def rules_to_claim(self, rule_ids: Sequence[int]) -> list[dict[str, Any]]:
        return [
            {"id": i, "user_id": r.user_id, "portfolio_id": r.portfolio_id, "name": r.name, "definition": r.definition}
            for i, r in sorted(self.rules.items())
            if i in set(rule_ids)
        ]

    def insert_firings(
        self, now: datetime, rule_ids: Sequence[int], window_keys: Sequence[str], observed: Sequence[str]
    ) -> list[dict[str, Any]]:
        taken = {(e["rule_id"], e["window_key"]) for e in self.executions}
        won = []
        for rule_id, key, seen in zip(rule_ids, window_keys, observed, strict=True):
            if (rule_id, key) in taken:
                continue
            taken.add((rule_id, key))
            row = {"id": len(self.executions) + 1, "rule_id": rule_id, "window_key": key, "observed": json.loads(seen)}
            self.executions.append({**row, "evaluated_at": now})
            won.append(row)
        return won

    def disarm_fired(self, rule_ids: Sequence[int], now: datetime) -> None:
        for i in rule_ids:
            self.rules[i].armed, self.rules[i].last_fired_at = False, now

    def rearm(self, rule_ids: Sequence[int]) -> None:
        for i in rule_ids:
            self.rules[i].armed = True

    def disable_with_reasons(self, rule_ids: Sequence[int], reasons: Sequence[str]) -> list[dict[str, Any]]:
        changed = []
        for i, reason in zip(rule_ids, reasons, strict=True):
            r = self.rules.get(i)
            if r is not None and r.enabled:
                r.enabled, r.disabled_reason = False, reason
                changed.append({"id": i, "user_id": r.user_id, "name": r.name, "disabled_reason": reason})
        return changed

    def insert_rule_disabled_notification(self, user_id: int, title: str, body: str, rule_id: int) -> int:
        self.notifications.append({"user_id": user_id, "title": title, "body": json.loads(body), "rule_id": rule_id})
        return len(self.notifications)


class InMemoryRuleActions:
    """A `RuleActionRecords`: stored notifications and action results; a title or body holding NUL
    is refused, as PostgreSQL refuses it in text."""

    def __init__(self, unfinished: Sequence[dict[str, Any]] = ()) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.results: dict[int, tuple[list[dict[str, Any]], str | None, int]] = {}
        self.unfinished = list(unfinished)
        self.batches = 0

    def unfinished_firings(
        self, *, now: datetime, max_rounds: int, stale_seconds: int, limit: int
    ) -> list[dict[str, Any]]:
        return [r for r in self.unfinished if r["action_rounds"] < max_rounds][:limit]

    def insert_rule_fired_notification(self, user_id: int, title: str, body: str, rule_id: int) -> int:
        from tidewatch.rules.repository import ValueRefused

        if "\x00" in title or "\\u0000" in body:
            raise ValueRefused("invalid byte sequence: 0x00")
        self.notifications.append({"user_id": user_id, "title": title, "body": json.loads(body), "rule_id": rule_id})
        return len(self.notifications)

    def insert_rule_fired_notifications(self, rows: Sequence[tuple[int, str, str, int]]) -> list[int]:
        from tidewatch.rules.repository import ValueRefused

        self.batches += 1
        if any("\x00" in title or "\\u0000" in body for _, title, body, _ in rows):
            raise ValueRefused("invalid byte sequence: 0x00")
        return [self.insert_rule_fired_notification(*row) for row in rows]

    def record_action_results(self, results: Sequence[tuple[str, str | None, int, int]]) -> None:
        for actions, error, rounds, execution_id in results:
            self.results[execution_id] = (json.loads(actions), error, rounds)


class InMemoryWebhookQueue:
    """A `WebhookQueue` over webhook_deliveries rows, answering and refusing as its statements do.

    A delivery belongs to a rule the queue knows (`rule_ids`; another id is a foreign key
    violation, which uses up a delivery id as the identity column does); its body is the payload
    as `jsonb::text` renders it (tests/fakes/postgres_values). Only attempted pending deliveries
    whose `next_attempt_at` has passed are due, earliest first.
    `delete_rule` is `RuleRecords.delete`: the rule's pending deliveries are cancelled, then every
    row of the rule keeps no rule (ON DELETE SET NULL), as `drop_rule` alone does. `rows` hold
    every column; `clock` stands for the database's now().
    """

    STATUSES = ("pending", "delivered", "failed")

    def __init__(self, rule_ids: Iterable[int] = (), *, clock: Callable[[], datetime] | None = None) -> None:
        self.rule_ids = set(rule_ids)
        self.rows: dict[int, dict[str, Any]] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._next_id = 1

    def add_rule(self, rule_id: int) -> None:
        self.rule_ids.add(rule_id)

    def drop_rule(self, rule_id: int) -> None:
        """The rule row deleted by a bare DELETE: its deliveries stay, without their rule."""
        self.rule_ids.discard(rule_id)
        for row in self.rows.values():
            if row["rule_id"] == rule_id:
                row["rule_id"] = None

    def delete_rule(self, rule_id: int) -> int:
        """As `RuleRecords.delete`; the number of pending deliveries cancelled."""
        now = self._clock()
        pending = [r for r in self.rows.values() if r["rule_id"] == rule_id and r["status"] == "pending"]
        for row in pending:
            row.update(
                status="failed", next_attempt_at=None, last_error="cancelled: the rule was deleted", updated_at=now
            )
        self.drop_rule(rule_id)
        return len(pending)

    def enqueue_delivery(self, rule_id: int, url: str, payload: str) -> int:
        text_value(url)
        body = jsonb_text(payload)  # a refused payload never reaches the insert
        delivery_id = self._next_id
        self._next_id += 1  # the identity is drawn before the foreign key is checked
        if rule_id not in self.rule_ids:
            raise psycopg.errors.ForeignKeyViolation(
                'insert or update on table "webhook_deliveries" violates foreign key constraint'
            )
        now = self._clock()
        self.rows[delivery_id] = {
            "id": delivery_id,
            "rule_id": rule_id,
            "url": url,
            "body": body,
            "attempt": 0,
            "status": "pending",
            "response_code": None,
            "last_error": None,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        return delivery_id

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        row = self.rows.get(delivery_id)
        return {k: row[k] for k in ("id", "rule_id", "url", "body", "attempt")} if row is not None else None

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        attempt: int,
        status: str,
        response_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        text_value(status)
        if error is not None:
            text_value(error)
        integer_value(attempt)
        if response_code is not None:
            integer_value(response_code)
        row = self.rows.get(delivery_id)
        if row is None:  # an UPDATE of no row
            return
        if status not in self.STATUSES:
            raise psycopg.errors.CheckViolation(
                'new row for relation "webhook_deliveries" violates check constraint "webhook_deliveries_status_check"'
            )
        row.update(
            attempt=attempt,
            status=status,
            response_code=response_code,
            last_error=error,
            next_attempt_at=next_attempt_at,
            updated_at=self._clock(),
        )

    def due_deliveries(self, now: datetime, limit: int) -> list[int]:
        if limit < 0:
            raise psycopg.errors.InvalidRowCountInLimitClause("LIMIT must not be negative")
        due = [
            (r["next_attempt_at"], i)
            for i, r in self.rows.items()
            if r["status"] == "pending"
            and r["attempt"] > 0
            and r["next_attempt_at"] is not None
            and r["next_attempt_at"] <= now
        ]
        # ORDER BY next_attempt_at leaves ties in no set order; here they go by id.
        return [i for _, i in sorted(due)[:limit]]
