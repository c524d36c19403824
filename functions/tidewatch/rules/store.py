"""Rules for evaluation: batched rule loading, claiming firings, rule state (SQL in rules.repository).

Rules are loaded in two set-returning queries inside one REPEATABLE READ transaction (a consistent
view), with the JSON definitions flattened to predicate columns by SQL itself, so no per-rule
model parsing happens on the hot path. A firing is claimed by inserting its (rule, window) row:
the UNIQUE(rule_id, window_key) constraint lets exactly one of several duplicate deliveries win.

A rule that cannot be evaluated never stops the others: when the bulk predicate query fails on
some rule's definition (a value out of a column type's range, a non-numeric threshold, a malformed
condition list), the failing rules are found by bisection, each query in its own savepoint, and
returned as rejects with the database's reason; predicates with codes the engine does not know are
rejected the same way. A rule about to fire is validated against the full model before its firing
is claimed. The tick disables every reject (`disable_rules`) and tells its owner.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tidewatch.db import Connection, Database
from tidewatch.rules import repository
from tidewatch.rules.model import RuleDefinition
from tidewatch.rules.ruleset import PredicateRow, RuleRow, RuleSet
from tidewatch.rules.sharding import ALL_RULES, ShardRange

# Code the predicate query gives a trigger type, side or operator it does not know.
_UNKNOWN = 99
_HORIZONS = (24, 168)
# The price-change bounds of the rule model (PriceChangeTrigger): the price source reads these
# into integer columns and intervals, where a larger value would fail the whole tick's query.
_PRICE_CHAINS = (1, 8453)
_MIN_WINDOW, _MAX_WINDOW = 300, 7 * 86_400
_ASSET = re.compile(r"[A-Za-z0-9.]{1,20}")
_MAX_REASON = 300


def reason_text(message: str) -> str:
    """A reject reason fit to store and show: one line, no NUL, bounded length."""
    text = " ".join(message.replace("\x00", "\\0").split())
    return text[:_MAX_REASON]


def _predicate_problem(p: PredicateRow) -> str | None:
    """Why a flattened predicate cannot be evaluated, or None (cheap checks on the loader's columns)."""
    kind, side, op, threshold = p[2], p[5], p[10], p[11]
    if kind == _UNKNOWN:
        return "unknown trigger type"
    if side == _UNKNOWN:
        return "side must be supply or borrow"
    if op == _UNKNOWN or (kind in (0, 1) and op not in (0, 1)) or (kind == 4 and op not in (2, 3, 4)):
        return "unknown comparison operator"
    if threshold is None:
        return "threshold missing"
    if kind == 3 and p[6] not in _HORIZONS:
        return "horizon_hours must be 24 or 168"
    if kind == 4:
        if p[7] not in _PRICE_CHAINS:
            return "chain_id must be 1 or 8453"
        if not _MIN_WINDOW <= p[9] <= _MAX_WINDOW:
            return f"window_seconds must be {_MIN_WINDOW} to {_MAX_WINDOW}"
        if _ASSET.fullmatch(p[8]) is None:
            return "asset must be 1 to 20 letters, digits or dots"
    return None


@dataclass
class LoadedRules:
    """The enabled rules that can be evaluated, and the ones that cannot (rule id -> reason)."""

    rules: RuleSet
    rejected: dict[int, str] = field(default_factory=dict)


def _fetch_predicates(
    conn: Connection, ids: Sequence[int], rejected: dict[int, str], shard_filter: dict[str, Any] | None = None
) -> dict[int, list[PredicateRow]]:
    """Predicates of `ids`; rules whose definitions the query cannot convert go to `rejected`.

    One query for all ids (or, given `shard_filter` when `ids` are all the shard's rules, one
    range scan of the shard); on a data error, halves of `ids` are retried (each in a savepoint)
    until the failing rules stand alone, so k broken rules cost O(k log n) extra queries."""
    import psycopg

    fresh: dict[int, list[PredicateRow]] = {}
    pending: list[Sequence[int]] = [ids] if ids else []
    if pending and shard_filter is not None:
        try:
            with conn.transaction():
                rows = repository.shard_predicate_rows(conn, shard_filter, unknown=_UNKNOWN)
            pending = []
            for p in rows:
                fresh.setdefault(p[0], []).append(p)
        except psycopg.DataError:
            pass  # some definition cannot be converted: find it by bisection over the ids
    while pending:
        part = pending.pop()
        try:
            with conn.transaction():
                rows = repository.predicate_rows(conn, part, unknown=_UNKNOWN)
        except psycopg.DataError as exc:
            if len(part) == 1:
                rejected[int(part[0])] = reason_text(f"definition cannot be evaluated: {exc}")
            else:
                middle = len(part) // 2
                pending += [part[:middle], part[middle:]]
            continue
        for p in rows:
            fresh.setdefault(p[0], []).append(p)
    for rule_id, predicates in list(fresh.items()):
        problem = next((why for p in predicates if (why := _predicate_problem(p))), None)
        if problem is not None:
            rejected[rule_id] = reason_text(f"definition cannot be evaluated: {problem}")
            del fresh[rule_id]
    return fresh


class RuleCache:
    """Enabled rules, with their flattened predicates kept between ticks of a warm container.

    Every load re-reads the cheap numeric columns of all enabled rules (state: armed, last fired;
    and `updated_at`), but re-parses the JSON definitions only of rules that are new or changed
    since the previous load; rules no longer enabled drop out. Both reads happen in one
    REPEATABLE READ transaction, so the tick sees one consistent set of rules.

    A cache is bound to one shard of the rules (all of them by default) and, for "market changed"
    ticks, to the rules that watch the given markets or prices.
    """

    def __init__(self, shard: ShardRange = ALL_RULES, markets: Sequence[int] | None = None) -> None:
        self._predicates: dict[int, tuple[float, list[PredicateRow]]] = {}
        self._filter: dict[str, Any] = {
            **shard.model_dump(),
            "markets": sorted({int(m) for m in markets}) if markets is not None else None,
        }

    def load(self, database: Database) -> RuleSet:
        """The enabled rules that can be evaluated (rejects are left out)."""
        return self.load_checked(database).rules

    def load_checked(self, database: Database) -> LoadedRules:
        """The enabled rules that can be evaluated, and why each of the others cannot."""
        # Loading allocates hundreds of thousands of small tuples; the cyclic GC would otherwise
        # rescan all of them (and the cache) several times over. Nothing here creates cycles.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._load(database)
        finally:
            if paused:
                gc.enable()

    def _load(self, database: Database) -> LoadedRules:
        rejected: dict[int, str] = {}
        with database.connection() as conn, conn.transaction():
            repository.begin_rule_snapshot(conn)
            rows = repository.enabled_rule_rows(conn, self._filter)
            cached = self._predicates
            stale = [r[0] for r in rows if (hit := cached.get(r[0])) is None or hit[0] != r[8]]
            whole_shard = self._filter if len(stale) == len(rows) else None
            fresh = _fetch_predicates(conn, stale, rejected, whole_shard)
        if rejected:
            rows = [r for r in rows if r[0] not in rejected]
        updated = {r[0]: r[8] for r in rows}
        if len(cached) > len(rows) or fresh:
            self._predicates = cached = {
                rule_id: (updated[rule_id], fresh[rule_id]) if rule_id in fresh else cached[rule_id]
                for rule_id in updated
                if rule_id in fresh or rule_id in cached
            }
        rules: list[RuleRow] = [r[:8] for r in rows]
        predicates = [p for r in rows for p in cached[r[0]][1]]
        return LoadedRules(RuleSet.from_rows(rules, predicates), rejected)


def load_enabled_rules(database: Database) -> RuleSet:
    """A one-off load (no cache between calls): dry runs, tests."""
    return RuleCache().load(database)


@dataclass(frozen=True)
class Claim:
    rule_id: int
    window_key: str
    observed: dict[str, Any]


@dataclass(frozen=True)
class ClaimedRule:
    execution_id: int
    rule_id: int
    user_id: int
    portfolio_id: int | None
    name: str
    window_key: str
    observed: dict[str, Any]
    definition: RuleDefinition


def claim_firings(
    database: Database,
    claims: Sequence[Claim],
    rearm_ids: Sequence[int],
    now: datetime,
    rejected: dict[int, str] | None = None,
) -> list[ClaimedRule]:
    """Insert one execution per (rule, window); only newly inserted ones fire. Updates rule state.

    Each candidate's stored definition is validated against the rule model first; one that fails
    is not claimed and goes to `rejected` (rule id -> reason) for the tick to disable."""
    claimed: list[ClaimedRule] = []
    with database.transaction() as conn:
        if claims:
            stored: dict[int, tuple[dict[str, Any], RuleDefinition]] = {}
            for rule in repository.rules_to_claim(conn, [c.rule_id for c in claims]):
                try:
                    stored[int(rule["id"])] = (rule, RuleDefinition.model_validate(rule["definition"]))
                except ValidationError as exc:
                    if rejected is not None:
                        rejected[int(rule["id"])] = reason_text(f"definition is invalid: {_first_error(exc)}")
            valid = [c for c in claims if c.rule_id in stored]
            rows = (
                repository.insert_firings(
                    conn,
                    now,
                    [c.rule_id for c in valid],
                    [c.window_key for c in valid],
                    [json.dumps(c.observed) for c in valid],
                )
                if valid
                else []
            )
            won = {int(r["rule_id"]): r for r in rows}
            if won:
                repository.disarm_fired(conn, list(won), now)
            for rule_id in sorted(won):
                execution = won[rule_id]
                rule, definition = stored[rule_id]
                claimed.append(
                    ClaimedRule(
                        execution_id=int(execution["id"]),
                        rule_id=rule_id,
                        user_id=int(rule["user_id"]),
                        portfolio_id=rule["portfolio_id"],
                        name=str(rule["name"]),
                        window_key=str(execution["window_key"]),
                        observed=dict(execution["observed"]),
                        definition=definition,
                    )
                )
        if rearm_ids:
            repository.rearm(conn, rearm_ids)
    return claimed


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


@dataclass(frozen=True)
class DisabledRule:
    rule_id: int
    user_id: int
    name: str
    reason: str
    notification_id: int


def disable_rules(database: Database, reasons: Mapping[int, str]) -> list[DisabledRule]:
    """Disable rules that cannot be evaluated or acted on, keep the reason on the rule (shown by the
    API as `disabled_reason`) and store a `rule_disabled` notification for each owner. Rules already
    disabled are left alone, so a redelivered tick tells nobody twice."""
    if not reasons:
        return []
    ids = list(reasons)
    with database.transaction() as conn:
        rows = repository.disable_with_reasons(conn, ids, [reasons[i] for i in ids])
        disabled: list[DisabledRule] = []
        for row in sorted(rows, key=lambda r: int(r["id"])):
            body = {
                "event": "rule.disabled",
                "rule_id": int(row["id"]),
                "rule_name": str(row["name"]),
                "reason": str(row["disabled_reason"]),
            }
            note_id = repository.insert_rule_disabled_notification(
                conn, row["user_id"], f"Rule '{row['name']}' was disabled", json.dumps(body), row["id"]
            )
            disabled.append(
                DisabledRule(
                    int(row["id"]), int(row["user_id"]), str(row["name"]), str(row["disabled_reason"]), note_id
                )
            )
    return disabled
