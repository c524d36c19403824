"""Postgres access for evaluation: batched rule loading, claiming firings, rule state.

Rules are loaded in two set-returning queries inside one REPEATABLE READ transaction (a consistent
view), with the JSON definitions flattened to predicate columns by SQL itself, so no per-rule
model parsing happens on the hot path. A firing is claimed by inserting its (rule, window) row:
the UNIQUE(rule_id, window_key) constraint lets exactly one of several duplicate deliveries win.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import tuple_row

from tidewatch.db import Database
from tidewatch.rules.model import RuleDefinition
from tidewatch.rules.ruleset import PredicateRow, RuleRow, RuleSet
from tidewatch.rules.sharding import ALL_RULES, ShardRange

_RULES_SQL = """
SELECT id, user_id, COALESCE(portfolio_id, 0), cadence_seconds, cooldown_seconds, armed,
       COALESCE(EXTRACT(EPOCH FROM last_fired_at)::float8, 'NaN'::float8),
       CASE definition->'conditions'->>'mode' WHEN 'all' THEN 1 WHEN 'any' THEN 2 ELSE 0 END,
       EXTRACT(EPOCH FROM updated_at)::float8
FROM rules
WHERE enabled AND shard_bucket BETWEEN %(bucket_lo)s AND %(bucket_hi)s AND id BETWEEN %(id_lo)s AND %(id_hi)s
  AND (%(markets)s::bigint[] IS NULL OR watched_markets && %(markets)s::bigint[] OR watches_prices)
ORDER BY id
"""

_PREDICATES_SQL = """
SELECT r.id, p.ord = 0,
       CASE p.t WHEN 'market_apy' THEN 0 WHEN 'apy_spread' THEN 1 WHEN 'health_factor_below' THEN 2
                WHEN 'risk_forecast_above' THEN 3 ELSE 4 END,
       COALESCE((p.pred->>'market_id')::bigint, 0),
       COALESCE((p.pred->>'other_market_id')::bigint, 0),
       CASE WHEN p.pred->>'side' = 'borrow' THEN 1 ELSE 0 END,
       COALESCE((p.pred->>'horizon_hours')::bigint, CASE WHEN p.t = 'risk_forecast_above' THEN 24 ELSE 0 END),
       COALESCE((p.pred->>'chain_id')::bigint, CASE WHEN p.t = 'price_change' THEN 1 ELSE 0 END),
       COALESCE(p.pred->>'asset', ''),
       COALESCE((p.pred->>'window_seconds')::bigint, CASE WHEN p.t = 'price_change' THEN 3600 ELSE 0 END),
       CASE WHEN p.t = 'health_factor_below' THEN 1 WHEN p.t = 'risk_forecast_above' THEN 0
            ELSE CASE p.pred->>'op' WHEN 'above' THEN 0 WHEN 'below' THEN 1 WHEN 'rises' THEN 2
                                    WHEN 'falls' THEN 3 ELSE 4 END END,
       (p.pred->>'threshold')::float8,
       COALESCE((p.pred->>'hysteresis')::float8, 0)
FROM rules r
CROSS JOIN LATERAL (
    SELECT 0::bigint AS ord, r.definition->'trigger' AS pred, r.definition->'trigger'->>'type' AS t
    UNION ALL
    SELECT c.ord, c.item, c.item->>'type'
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(r.definition->'conditions') = 'object'
             THEN r.definition->'conditions'->'items' ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS c(item, ord)
) p
WHERE r.enabled AND r.id = ANY(%s)
ORDER BY r.id, p.ord
"""


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
        # Loading allocates hundreds of thousands of small tuples; the cyclic GC would otherwise
        # rescan all of them (and the cache) several times over. Nothing here creates cycles.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._load(database)
        finally:
            if paused:
                gc.enable()

    def _load(self, database: Database) -> RuleSet:
        with database.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with conn.cursor(row_factory=tuple_row) as cur:
                rows = cur.execute(_RULES_SQL, self._filter).fetchall()
                cached = self._predicates
                stale = [r[0] for r in rows if (hit := cached.get(r[0])) is None or hit[0] != r[8]]
                fresh: dict[int, list[PredicateRow]] = {}
                if stale:
                    for p in cur.execute(_PREDICATES_SQL, (stale,)).fetchall():
                        fresh.setdefault(p[0], []).append(p)
        updated = {r[0]: r[8] for r in rows}
        if len(cached) > len(rows) or fresh:
            self._predicates = cached = {
                rule_id: (updated[rule_id], fresh[rule_id]) if rule_id in fresh else cached[rule_id]
                for rule_id in updated
                if rule_id in fresh or rule_id in cached
            }
        rules: list[RuleRow] = [r[:8] for r in rows]
        predicates = [p for r in rows for p in cached[r[0]][1]]
        return RuleSet.from_rows(rules, predicates)


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
    database: Database, claims: Sequence[Claim], rearm_ids: Sequence[int], now: datetime
) -> list[ClaimedRule]:
    """Insert one execution per (rule, window); only newly inserted ones fire. Updates rule state."""
    claimed: list[ClaimedRule] = []
    with database.transaction() as conn:
        if claims:
            rows = conn.execute(
                "INSERT INTO rule_executions (rule_id, window_key, evaluated_at, fired, observed) "
                "SELECT c.rule_id, c.window_key, %s, true, c.observed::jsonb "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS c(rule_id, window_key, observed) "
                "ON CONFLICT (rule_id, window_key) DO NOTHING RETURNING id, rule_id, window_key, observed",
                (
                    now,
                    [c.rule_id for c in claims],
                    [c.window_key for c in claims],
                    [json.dumps(c.observed) for c in claims],
                ),
            ).fetchall()
            won = {int(r["rule_id"]): r for r in rows}
            if won:
                conn.execute("UPDATE rules SET armed = false, last_fired_at = %s WHERE id = ANY(%s)", (now, list(won)))
                for rule in conn.execute(
                    "SELECT id, user_id, portfolio_id, name, definition FROM rules WHERE id = ANY(%s) ORDER BY id",
                    (list(won),),
                ).fetchall():
                    execution = won[int(rule["id"])]
                    claimed.append(
                        ClaimedRule(
                            execution_id=int(execution["id"]),
                            rule_id=int(rule["id"]),
                            user_id=int(rule["user_id"]),
                            portfolio_id=rule["portfolio_id"],
                            name=str(rule["name"]),
                            window_key=str(execution["window_key"]),
                            observed=dict(execution["observed"]),
                            definition=RuleDefinition.model_validate(rule["definition"]),
                        )
                    )
        if rearm_ids:
            conn.execute("UPDATE rules SET armed = true WHERE id = ANY(%s) AND NOT armed", (list(rearm_ids),))
    return claimed
