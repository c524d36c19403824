"""Rules for evaluation: batched rule loading, claiming firings, rule state (SQL in rules.repository).

A shard's rules are loaded inside one REPEATABLE READ transaction (a consistent view) with two
binary range reads into numpy record arrays: the rules (an index-only scan) and their stored
predicates (`rule_predicates`, kept by the rule writes, flattened once when a rule is written).
A rule the table lacks or holds under an older definition hash is flattened from its JSON by SQL
itself, so no per-rule model parsing happens on the hot path. A firing is claimed by inserting
its (rule, window) row: the UNIQUE(rule_id, window_key) constraint lets exactly one of several
duplicate deliveries win.

A rule that cannot be evaluated never stops the others: when the JSON flattening fails on some
rule's definition (a value out of a column type's range, a non-numeric threshold, a malformed
condition list), the failing rules are found by bisection, each query in its own savepoint, and
returned as rejects with the database's reason; predicates with codes the engine does not know
are rejected the same way (numpy checks over all predicates). A rule about to fire is validated
against the full model before its firing is claimed. The tick disables every reject
(`disable_rules`) and tells its owner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from tidewatch.db import Database
from tidewatch.rules import repository
from tidewatch.rules.model import RuleDefinition
from tidewatch.rules.predicate_row import FLAT_PREDICATE_COLUMNS
from tidewatch.rules.repository import RuleLoadRecords, RuleTickRepository, UnconvertibleDefinition
from tidewatch.rules.ruleset import RuleSet
from tidewatch.rules.sharding import ALL_RULES, ShardRange

# Code the predicate flattening (migration 0800's `rule_flat_predicates`) gives a trigger type,
# side or operator it does not know.
_UNKNOWN = 99
_HORIZONS = (24, 168)
# The price-change bounds of the rule model (PriceChangeTrigger): the price source reads these
# into integer columns and intervals, where a larger value would fail the whole tick's query.
_PRICE_CHAINS = (1, 8453)
_MIN_WINDOW, _MAX_WINDOW = 300, 7 * 86_400
_ASSET = re.compile(r"[A-Za-z0-9.]{1,20}")
_MAX_REASON = 300
# Why a predicate cannot be evaluated, by the code `predicate_problems` gives it (0: it can).
_PROBLEMS = (
    "",
    "unknown trigger type",
    "side must be supply or borrow",
    "unknown comparison operator",
    "threshold missing",
    "horizon_hours must be 24 or 168",
    "chain_id must be 1 or 8453",
    f"window_seconds must be {_MIN_WINDOW} to {_MAX_WINDOW}",
    "asset must be 1 to 20 letters, digits or dots",
)


def reason_text(message: str) -> str:
    """A reject reason fit to store and show: one line, no NUL, bounded length."""
    text = " ".join(message.replace("\x00", "\\0").split())
    return text[:_MAX_REASON]


def predicate_problems(p: Any) -> npt.NDArray[np.int8]:
    """Per predicate (columns of `repository.PREDICATE_FIELDS`), the code in `_PROBLEMS` of the
    first check it fails, 0 when it can be evaluated: cheap checks in a few numpy passes."""
    kind, side, op = p["kind"], p["side"], p["op"]
    priced = kind == 4
    return np.select(
        [
            kind == _UNKNOWN,
            side == _UNKNOWN,
            (op == _UNKNOWN) | (((kind == 0) | (kind == 1)) & (op != 0) & (op != 1)) | (priced & ((op < 2) | (op > 4))),
            np.isnan(p["threshold"]),
            (kind == 3) & ~np.isin(p["horizon"], _HORIZONS),
            priced & ~np.isin(p["chain_id"], _PRICE_CHAINS),
            priced & ((p["window_seconds"] < _MIN_WINDOW) | (p["window_seconds"] > _MAX_WINDOW)),
            priced & ~p["asset_ok"],
        ],
        np.arange(1, len(_PROBLEMS), dtype=np.int8),
        np.int8(0),
    ).astype(np.int8)


@dataclass
class LoadedRules:
    """The enabled rules that can be evaluated, and the ones that cannot (rule id -> reason)."""

    rules: RuleSet
    rejected: dict[int, str] = field(default_factory=dict)


def _json_predicates(records: RuleLoadRecords, rules: Any, ids: npt.NDArray[np.int64], rejected: dict[int, str]) -> Any:
    """Predicates of `ids` flattened from their JSON definitions, as predicate records; rules whose
    definitions the query cannot convert go to `rejected`.

    One query for all ids; on a data error, halves of `ids` are retried (each in a savepoint)
    until the failing rules stand alone, so k broken rules cost O(k log n) extra queries."""
    crc = dict(zip(rules["rule_id"].tolist(), rules["crc"].tolist(), strict=True))
    rows: list[tuple[Any, ...]] = []
    pending: list[list[int]] = [ids.tolist()] if ids.size else []
    while pending:
        part = pending.pop()
        try:
            rows += records.flattened_predicates(part)
        except UnconvertibleDefinition as exc:
            if len(part) == 1:
                rejected[int(part[0])] = reason_text(f"definition cannot be evaluated: {exc}")
            else:
                middle = len(part) // 2
                pending += [part[:middle], part[middle:]]
    return _flat_records(rows, crc)


def _flat_records(rows: Sequence[tuple[Any, ...]], crc: Mapping[int, int]) -> Any:
    """Rows of `FLAT_PREDICATE_COLUMNS` as predicate records, column by column: `crc` by rule id,
    a missing threshold as NaN, an asset that is not 1 to 20 letters, digits or dots as blank
    with `asset_ok` false."""
    out = np.zeros(len(rows), dtype=_predicate_dtype())
    if not rows:
        return out
    columns = dict(zip(FLAT_PREDICATE_COLUMNS, zip(*rows, strict=True), strict=True))
    for name in FLAT_PREDICATE_COLUMNS:
        if name not in ("asset", "threshold"):
            out[name] = columns[name]
    out["crc"] = [crc[rule_id] for rule_id in columns["rule_id"]]
    out["threshold"] = np.array(columns["threshold"], dtype=np.float64)
    assets = [str(asset) for asset in columns["asset"]]
    ok = [_ASSET.fullmatch(asset) is not None for asset in assets]
    blank = b" " * repository.ASSET_BYTES
    out["asset_ok"] = ok
    out["asset"] = [
        asset.encode().ljust(repository.ASSET_BYTES) if good else blank for asset, good in zip(assets, ok, strict=True)
    ]
    return out


def _predicate_dtype() -> np.dtype[Any]:
    return np.dtype([(name, np.dtype(kind).newbyteorder("=")) for name, kind in repository.PREDICATE_FIELDS])


def _current(rules: Any, predicates: Any) -> tuple[Any, npt.NDArray[np.int64]]:
    """The predicates flattened from the rules' current definitions (same `crc`), and the ids of
    the rules that have none there."""
    triggers = predicates[predicates["is_trigger"]]
    order = np.argsort(triggers["rule_id"], kind="stable")
    ids, crcs = triggers["rule_id"][order], triggers["crc"][order]
    if ids.size == 0:
        return predicates[:0], rules["rule_id"]
    pos = np.minimum(np.searchsorted(ids, rules["rule_id"]), ids.size - 1)
    found = (ids[pos] == rules["rule_id"]) & (crcs[pos] == rules["crc"])
    current = predicates[np.isin(predicates["rule_id"], rules["rule_id"][found])]
    return current, rules["rule_id"][~found]


class RuleCache:
    """Enabled rules, with their predicates kept between ticks of a warm container.

    Every load reads the shard's rules (state: armed, last fired; and the definition's hash) in
    one index-only range read; predicates come from the previous load while every rule's hash
    still matches, else from the stored predicate table (one range read of the shard), and the
    rules it lacks or holds stale (written past the repository) are flattened from their JSON.
    All reads happen in one REPEATABLE READ transaction, so the tick sees one consistent set of
    rules. Columns are built, checked and grouped with numpy, never per row.

    A cache is bound to one shard of the rules (all of them by default) and, for "market changed"
    ticks, to the rules that watch the given markets or prices.
    """

    def __init__(self, shard: ShardRange = ALL_RULES, markets: Sequence[int] | None = None) -> None:
        self._predicates: Any = None
        self._filter: dict[str, Any] = {
            **shard.model_dump(),
            "markets": sorted({int(m) for m in markets}) if markets is not None else None,
        }

    def load(self, database: RuleTickRepository | Database) -> RuleSet:
        """The enabled rules that can be evaluated (rejects are left out)."""
        return self.load_checked(database).rules

    def load_checked(self, database: RuleTickRepository | Database) -> LoadedRules:
        """The enabled rules that can be evaluated, and why each of the others cannot."""
        rejected: dict[int, str] = {}
        with repository.rule_tick(database).snapshot() as records:
            rules = records.shard_rules(self._filter)
            predicates, missing = np.zeros(0, dtype=_predicate_dtype()), rules["rule_id"]
            if self._predicates is not None:
                predicates, missing = _current(rules, self._predicates)
            if missing.size:
                predicates, missing = _current(rules, records.stored_predicates(self._filter))
            if missing.size:
                predicates = np.concatenate([predicates, _json_predicates(records, rules, missing, rejected)])
        problems = predicate_problems(predicates)
        bad = np.flatnonzero(problems)
        if bad.size:
            first_rule, first = np.unique(predicates["rule_id"][bad], return_index=True)
            for rule_id, code in zip(first_rule.tolist(), problems[bad][first].tolist(), strict=True):
                rejected[int(rule_id)] = reason_text(f"definition cannot be evaluated: {_PROBLEMS[code]}")
        if rejected:
            refused = np.fromiter(rejected, dtype=np.int64, count=len(rejected))
            predicates = predicates[~np.isin(predicates["rule_id"], refused)]
            rules = rules[~np.isin(rules["rule_id"], refused)]
        rules = rules[np.argsort(rules["rule_id"])]
        predicates = predicates[np.lexsort((predicates["ord"], predicates["rule_id"]))]
        self._predicates = predicates
        triggers = predicates[predicates["is_trigger"]]
        if triggers.size != rules.size:  # pragma: no cover - every flattened rule has one trigger row
            raise AssertionError("a rule without exactly one trigger predicate")
        columns = {name: rules[name] for name in ("rule_id", "user_id", "portfolio_id", "armed", "last_fired")}
        columns |= {"cadence": rules["cadence"], "cooldown": rules["cooldown"], "mode": triggers["mode"]}
        return LoadedRules(RuleSet.from_columns(columns, predicates), rejected)


def load_enabled_rules(database: RuleTickRepository | Database) -> RuleSet:
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
    database: RuleTickRepository | Database,
    claims: Sequence[Claim],
    rearm_ids: Sequence[int],
    now: datetime,
    rejected: dict[int, str] | None = None,
) -> list[ClaimedRule]:
    """Insert one execution per (rule, window); only newly inserted ones fire. Updates rule state.

    Each candidate's stored definition is validated against the rule model first; one that fails
    is not claimed and goes to `rejected` (rule id -> reason) for the tick to disable."""
    claimed: list[ClaimedRule] = []
    with repository.rule_tick(database).transaction() as records:
        if claims:
            stored: dict[int, tuple[dict[str, Any], RuleDefinition]] = {}
            for rule in records.rules_to_claim([c.rule_id for c in claims]):
                try:
                    stored[int(rule["id"])] = (rule, RuleDefinition.model_validate(rule["definition"]))
                except ValidationError as exc:
                    if rejected is not None:
                        rejected[int(rule["id"])] = reason_text(f"definition is invalid: {_first_error(exc)}")
            valid = [c for c in claims if c.rule_id in stored]
            rows = (
                records.insert_firings(
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
                records.disarm_fired(list(won), now)
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
            records.rearm(rearm_ids)
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


def disable_rules(database: RuleTickRepository | Database, reasons: Mapping[int, str]) -> list[DisabledRule]:
    """Disable rules that cannot be evaluated or acted on, keep the reason on the rule (shown by the
    API as `disabled_reason`) and store a `rule_disabled` notification for each owner. Rules already
    disabled are left alone, so a redelivered tick tells nobody twice."""
    if not reasons:
        return []
    ids = list(reasons)
    with repository.rule_tick(database).transaction() as records:
        rows = records.disable_with_reasons(ids, [reasons[i] for i in ids])
        disabled: list[DisabledRule] = []
        for row in sorted(rows, key=lambda r: int(r["id"])):
            body = {
                "event": "rule.disabled",
                "rule_id": int(row["id"]),
                "rule_name": str(row["name"]),
                "reason": str(row["disabled_reason"]),
            }
            note_id = records.insert_rule_disabled_notification(
                row["user_id"], f"Rule '{row['name']}' was disabled", json.dumps(body), row["id"]
            )
            disabled.append(
                DisabledRule(
                    int(row["id"]), int(row["user_id"]), str(row["name"]), str(row["disabled_reason"]), note_id
                )
            )
    return disabled
