"""Rules in PostgreSQL: the rules service's port and its adapter, and the tick's reads and writes.

`RulesRepository` opens a unit of work (`transaction()` for writes, `session()` for reads) that
yields `RuleRecords`: every lookup by rule id is scoped by owner, so another user's id finds
nothing. The records also count what the plan limits check (`tidewatch.billing.limits.PlanUsage`),
in the same transaction as the write.

The tick's statements (below `PostgresRules`) take the caller's connection: the batched rule and
predicate loads of `tidewatch.rules.store` (tuples, no per-row dicts, on the hot path), firing
claims and rule state, the coordinator's shard counts (`tidewatch.rules.shard_store`), the snapshot
sources (`tidewatch.rules.sources`), action results (`tidewatch.rules.actions`) and the webhook
delivery queue (`tidewatch.rules.webhooks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tidewatch.billing.limits import PlanUsage
from tidewatch.billing.repository import PlanUsageRecords
from tidewatch.db import Connection, Database, UnitOfWork

RULE_COLUMNS = (
    "id, name, portfolio_id, definition, cadence_seconds, cooldown_seconds, enabled, disabled_reason, armed, "
    "last_fired_at, created_at, updated_at, user_id"
)


@dataclass(frozen=True)
class RuleValues:
    """The owner-written columns of a rule; `definition` is the RuleDefinition as JSON."""

    name: str
    portfolio_id: int | None
    definition: str
    cadence_seconds: int
    cooldown_seconds: int
    enabled: bool


class RuleRecords(PlanUsage, Protocol):
    """Rules, their history and the owner's notifications, within one unit of work.

    Rows are dicts with the columns of `RULE_COLUMNS` (rules), of `Execution` and of `Notification`.
    Pages are newest first, ids below `before`, at most `limit` rows.
    """

    def portfolio_owner(self, portfolio_id: int) -> int | None: ...

    def owned_destinations(self, user_id: int, destination_ids: Sequence[int]) -> set[int]: ...

    def find(self, user_id: int, rule_id: int, *, lock: bool = False) -> dict[str, Any] | None: ...

    def page(self, user_id: int, *, before: int, limit: int) -> list[dict[str, Any]]: ...

    def insert(self, user_id: int, values: RuleValues) -> dict[str, Any]: ...

    def update(self, user_id: int, rule_id: int, values: RuleValues, *, rearm: bool) -> dict[str, Any] | None:
        """Write `values`; an enabled rule loses its disabled reason, `rearm` arms it."""
        ...

    def delete(self, user_id: int, rule_id: int) -> None:
        """Delete the rule and cancel its pending webhook retries."""
        ...

    def executions(self, rule_id: int, *, before: int, limit: int) -> list[dict[str, Any]]: ...

    def notifications(self, user_id: int, *, before: int, limit: int, unread_only: bool) -> list[dict[str, Any]]: ...


class RulesRepository(Protocol):
    def transaction(self) -> AbstractContextManager[RuleRecords]: ...

    def session(self) -> AbstractContextManager[RuleRecords]: ...


class PostgresRuleRecords(PlanUsageRecords):
    """`RuleRecords` over one connection (the caller's transaction)."""

    def portfolio_owner(self, portfolio_id: int) -> int | None:
        row = self.conn.execute("SELECT user_id FROM portfolios WHERE id = %s", (portfolio_id,)).fetchone()
        return None if row is None else int(row["user_id"])

    def owned_destinations(self, user_id: int, destination_ids: Sequence[int]) -> set[int]:
        rows = self.conn.execute(
            "SELECT id FROM alert_destinations WHERE user_id = %s AND id = ANY(%s)", (user_id, list(destination_ids))
        ).fetchall()
        return {int(r["id"]) for r in rows}

    def find(self, user_id: int, rule_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(
            f"SELECT {RULE_COLUMNS} FROM rules WHERE id = %s AND user_id = %s" + (" FOR UPDATE" if lock else ""),
            (rule_id, user_id),
        ).fetchone()
        return row

    def page(self, user_id: int, *, before: int, limit: int) -> list[dict[str, Any]]:
        return self.conn.execute(
            f"SELECT {RULE_COLUMNS} FROM rules WHERE user_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
            (user_id, before, limit),
        ).fetchall()

    def insert(self, user_id: int, values: RuleValues) -> dict[str, Any]:
        row: dict[str, Any] | None = self.conn.execute(
            f"INSERT INTO rules (user_id, portfolio_id, name, definition, cadence_seconds, cooldown_seconds, "
            f"enabled) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s) RETURNING {RULE_COLUMNS}",
            (
                user_id,
                values.portfolio_id,
                values.name,
                values.definition,
                values.cadence_seconds,
                values.cooldown_seconds,
                values.enabled,
            ),
        ).fetchone()
        assert row is not None
        return row

    def update(self, user_id: int, rule_id: int, values: RuleValues, *, rearm: bool) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(
            f"UPDATE rules SET name = %s, portfolio_id = %s, definition = %s::jsonb, cadence_seconds = %s, "
            f"cooldown_seconds = %s, enabled = %s, disabled_reason = CASE WHEN %s THEN NULL "
            f"ELSE disabled_reason END, armed = armed OR %s, updated_at = now() "
            f"WHERE id = %s AND user_id = %s RETURNING {RULE_COLUMNS}",
            (
                values.name,
                values.portfolio_id,
                values.definition,
                values.cadence_seconds,
                values.cooldown_seconds,
                values.enabled,
                values.enabled,
                rearm,
                rule_id,
                user_id,
            ),
        ).fetchone()
        return row

    def delete(self, user_id: int, rule_id: int) -> None:
        cancel_pending_deliveries(self.conn, rule_id)
        self.conn.execute("DELETE FROM rules WHERE id = %s AND user_id = %s", (rule_id, user_id))

    def executions(self, rule_id: int, *, before: int, limit: int) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT id, window_key, evaluated_at, fired, observed, actions, error FROM rule_executions "
            "WHERE rule_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
            (rule_id, before, limit),
        ).fetchall()

    def notifications(self, user_id: int, *, before: int, limit: int, unread_only: bool) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT id, kind, title, body, rule_id, created_at, read_at FROM notifications "
            "WHERE user_id = %s AND id < %s AND (NOT %s OR read_at IS NULL) ORDER BY id DESC LIMIT %s",
            (user_id, before, unread_only, limit),
        ).fetchall()


class PostgresRules(UnitOfWork[RuleRecords]):
    """`RulesRepository` over a database: one connection (and transaction) per unit of work."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresRuleRecords)


# ---- The tick: rule and predicate loads -------------------------------------------------------

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

_PREDICATES_OF = """
SELECT r.id, p.ord = 0,
       CASE p.t WHEN 'market_apy' THEN 0 WHEN 'apy_spread' THEN 1 WHEN 'health_factor_below' THEN 2
                WHEN 'risk_forecast_above' THEN 3 WHEN 'price_change' THEN 4 ELSE %(unknown)s END,
       COALESCE((p.pred->>'market_id')::bigint, 0),
       COALESCE((p.pred->>'other_market_id')::bigint, 0),
       CASE COALESCE(p.pred->>'side', 'supply') WHEN 'supply' THEN 0 WHEN 'borrow' THEN 1 ELSE %(unknown)s END,
       COALESCE((p.pred->>'horizon_hours')::bigint, CASE WHEN p.t = 'risk_forecast_above' THEN 24 ELSE 0 END),
       COALESCE((p.pred->>'chain_id')::bigint, CASE WHEN p.t = 'price_change' THEN 1 ELSE 0 END),
       COALESCE(p.pred->>'asset', ''),
       COALESCE((p.pred->>'window_seconds')::bigint, CASE WHEN p.t = 'price_change' THEN 3600 ELSE 0 END),
       CASE WHEN p.t = 'health_factor_below' THEN 1 WHEN p.t = 'risk_forecast_above' THEN 0
            ELSE CASE p.pred->>'op' WHEN 'above' THEN 0 WHEN 'below' THEN 1 WHEN 'rises' THEN 2
                                    WHEN 'falls' THEN 3 WHEN 'moves' THEN 4 ELSE %(unknown)s END END,
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
WHERE {where}
ORDER BY r.id, p.ord
"""
# Predicates of listed rules (those new or changed since a warm container's last load) ...
_PREDICATES_SQL = _PREDICATES_OF.replace("{where}", "r.enabled AND r.id = ANY(%(ids)s)")
# ... or of every rule of the shard (a cold load): the range scan of `_RULES_SQL`, no id list.
# Ordered by (bucket, id), the order of `rules_shard_idx`, so the scan reads only the shard's
# index entries; ordered by id alone, the planner walks the id index of every enabled rule and
# filters by bucket (a tenth of a million-rule table read for each shard of 100,000).
_SHARD_PREDICATES_SQL = _PREDICATES_OF.replace(
    "{where}",
    "r.enabled AND r.shard_bucket BETWEEN %(bucket_lo)s AND %(bucket_hi)s AND r.id BETWEEN %(id_lo)s AND %(id_hi)s"
    " AND (%(markets)s::bigint[] IS NULL OR r.watched_markets && %(markets)s::bigint[] OR r.watches_prices)",
).replace("ORDER BY r.id, p.ord", "ORDER BY r.shard_bucket, r.id, p.ord")


def begin_rule_snapshot(conn: Connection) -> None:
    """Make the caller's open transaction one consistent read-only view for the rule loads."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # The planner guesses 100 conditions a rule (jsonb_array_elements), so the predicate
    # query looks costly enough to JIT-compile; compiling takes longer than running it.
    conn.execute("SET LOCAL jit = off")


def enabled_rule_rows(conn: Connection, shard_filter: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The shard's enabled rules as `RuleRow` tuples plus `updated_at` (epoch seconds) last."""
    # Binary results: a hundred thousand rows of numbers, no text parsing per value.
    from psycopg.rows import tuple_row

    with conn.cursor(row_factory=tuple_row, binary=True) as cur:
        return cur.execute(_RULES_SQL, shard_filter).fetchall()


def shard_predicate_rows(conn: Connection, shard_filter: Mapping[str, Any], *, unknown: int) -> list[tuple[Any, ...]]:
    """Flattened predicates (`PredicateRow`) of every enabled rule of the shard; codes the query
    does not know read as `unknown`. Raises psycopg.DataError when a definition cannot convert."""
    from psycopg.rows import tuple_row

    with conn.cursor(row_factory=tuple_row, binary=True) as cur:
        return cur.execute(_SHARD_PREDICATES_SQL, {**shard_filter, "unknown": unknown}).fetchall()


def predicate_rows(conn: Connection, ids: Sequence[int], *, unknown: int) -> list[tuple[Any, ...]]:
    """Flattened predicates of the listed enabled rules (as `shard_predicate_rows`)."""
    from psycopg.rows import tuple_row

    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute(_PREDICATES_SQL, {"ids": list(ids), "unknown": unknown}).fetchall()


# ---- The tick: firings and rule state ---------------------------------------------------------


def rules_to_claim(conn: Connection, rule_ids: Sequence[int]) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, user_id, portfolio_id, name, definition FROM rules WHERE id = ANY(%s) ORDER BY id",
        (list(rule_ids),),
    ).fetchall()


def insert_firings(
    conn: Connection, now: datetime, rule_ids: Sequence[int], window_keys: Sequence[str], observed: Sequence[str]
) -> list[dict[str, Any]]:
    """One fired execution per (rule, window key); only those inserted now come back (a duplicate
    delivery of the tick loses on UNIQUE(rule_id, window_key))."""
    return conn.execute(
        "INSERT INTO rule_executions (rule_id, window_key, evaluated_at, fired, observed) "
        "SELECT c.rule_id, c.window_key, %s, true, c.observed::jsonb "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS c(rule_id, window_key, observed) "
        "ON CONFLICT (rule_id, window_key) DO NOTHING RETURNING id, rule_id, window_key, observed",
        (now, list(rule_ids), list(window_keys), list(observed)),
    ).fetchall()


def disarm_fired(conn: Connection, rule_ids: Sequence[int], now: datetime) -> None:
    conn.execute("UPDATE rules SET armed = false, last_fired_at = %s WHERE id = ANY(%s)", (now, list(rule_ids)))


def rearm(conn: Connection, rule_ids: Sequence[int]) -> None:
    conn.execute("UPDATE rules SET armed = true WHERE id = ANY(%s) AND NOT armed", (list(rule_ids),))


def disable_with_reasons(conn: Connection, rule_ids: Sequence[int], reasons: Sequence[str]) -> list[dict[str, Any]]:
    """Disable the still-enabled rules among `rule_ids`, each with its reason; the rows changed."""
    return conn.execute(
        "UPDATE rules SET enabled = false, disabled_reason = r.reason, updated_at = now() "
        "FROM unnest(%s::bigint[], %s::text[]) AS r(id, reason) WHERE rules.id = r.id AND rules.enabled "
        "RETURNING rules.id, rules.user_id, rules.name, rules.disabled_reason",
        (list(rule_ids), list(reasons)),
    ).fetchall()


def insert_rule_disabled_notification(conn: Connection, user_id: int, title: str, body: str, rule_id: int) -> int:
    note = conn.execute(
        "INSERT INTO notifications (user_id, kind, title, body, rule_id) "
        "VALUES (%s, 'rule_disabled', %s, %s::jsonb, %s) RETURNING id",
        (user_id, title, body, rule_id),
    ).fetchone()
    assert note is not None
    return int(note["id"])


def insert_rule_fired_notification(conn: Connection, user_id: int, title: str, body: str, rule_id: int) -> int:
    row = conn.execute(
        "INSERT INTO notifications (user_id, kind, title, body, rule_id) "
        "VALUES (%s, 'rule_fired', %s, %s::jsonb, %s) RETURNING id",
        (user_id, title, body, rule_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def unfinished_firings(
    conn: Connection, *, now: datetime, max_rounds: int, stale_seconds: int, limit: int
) -> list[dict[str, Any]]:
    """Fired executions of the last hour (before `now`) whose actions failed, or never ran and are
    older than `stale_seconds`, with fewer than `max_rounds` rounds; with their rule, oldest first."""
    return conn.execute(
        "SELECT e.id, e.rule_id, e.window_key, e.evaluated_at, e.observed, e.actions, e.action_rounds, "
        "r.user_id, r.portfolio_id, r.name, r.definition FROM rule_executions e "
        "JOIN rules r ON r.id = e.rule_id "
        "WHERE e.fired AND (e.error IS NOT NULL OR e.actions = '[]'::jsonb) AND e.action_rounds < %s "
        "AND e.evaluated_at > %s - interval '1 hour' AND e.evaluated_at < %s "
        "AND (e.actions <> '[]'::jsonb OR e.evaluated_at < %s - make_interval(secs => %s)) "
        "ORDER BY e.evaluated_at LIMIT %s",
        (max_rounds, now, now, now, stale_seconds, limit),
    ).fetchall()


def record_action_results(conn: Connection, results: Sequence[tuple[str, str | None, int, int]]) -> None:
    """(actions JSON, error, rounds, execution id) for each execution."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE rule_executions SET actions = %s::jsonb, error = %s, action_rounds = %s WHERE id = %s",
            results,
        )


# ---- The coordinator: enabled rules per shard bucket ------------------------------------------

_WATCHING = "(watched_markets && %(markets)s::bigint[] OR watches_prices)"


def bucket_counts(conn: Connection, markets: list[int] | None) -> dict[int, int]:
    """Enabled rules per bucket; with `markets`, only the rules that watch those markets or prices."""
    where = "enabled" if markets is None else f"enabled AND {_WATCHING}"
    rows = conn.execute(
        f"SELECT shard_bucket, count(*) AS n FROM rules WHERE {where} GROUP BY shard_bucket",
        {"markets": markets},
    ).fetchall()
    return {int(r["shard_bucket"]): int(r["n"]) for r in rows}


def bucket_cuts(conn: Connection, bucket: int, fractions: Sequence[float], markets: list[int] | None) -> list[int]:
    """The rule ids at `fractions` of one bucket's enabled rules (as `bucket_counts` filters them)."""
    where = "enabled AND shard_bucket = %(bucket)s" + ("" if markets is None else f" AND {_WATCHING}")
    row = conn.execute(
        f"SELECT percentile_disc(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY id) AS cuts FROM rules WHERE {where}",
        {"bucket": bucket, "fractions": list(fractions), "markets": markets},
    ).fetchone()
    return [int(c) for c in (row["cuts"] if row and row["cuts"] else [])]


# ---- Snapshot sources: latest markets, price changes, stored health factors --------------------


def latest_market_rows(conn: Connection) -> list[dict[str, Any]]:
    """Each market's latest rate row (by block) with its chain and asset."""
    return conn.execute(
        "SELECT DISTINCT ON (r.market_id) r.market_id, r.supply_apy::float8 AS supply_apy, "
        "r.borrow_apy::float8 AS borrow_apy, r.price_usd::float8 AS price_usd, r.observed_at, "
        "m.chain_id, m.asset_symbol FROM market_rates r JOIN markets m ON m.id = r.market_id "
        "ORDER BY r.market_id, r.block_number DESC"
    ).fetchall()


def price_window_rows(
    conn: Connection, chain_ids: Sequence[int], assets: Sequence[str], window_seconds: Sequence[int], at: datetime
) -> list[dict[str, Any]]:
    """Per (chain, asset, window): the price at `at` and the price one window earlier."""
    return conn.execute(
        """
                SELECT w.chain_id, w.asset, w.window_seconds, now_p.price_usd::float8 AS now_price,
                       then_p.price_usd::float8 AS then_price
                FROM unnest(%s::int[], %s::text[], %s::int[]) AS w(chain_id, asset, window_seconds)
                CROSS JOIN LATERAL (
                    SELECT price_usd FROM asset_prices
                    WHERE chain_id = w.chain_id AND asset_symbol = w.asset AND observed_at <= %s
                    ORDER BY observed_at DESC LIMIT 1) now_p
                CROSS JOIN LATERAL (
                    SELECT price_usd FROM asset_prices
                    WHERE chain_id = w.chain_id AND asset_symbol = w.asset
                      AND observed_at <= %s - make_interval(secs => w.window_seconds)
                    ORDER BY observed_at DESC LIMIT 1) then_p
                """,
        (list(chain_ids), list(assets), list(window_seconds), at, at),
    ).fetchall()


def latest_health_factor_rows(conn: Connection, portfolio_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Each portfolio's lowest health factor of its latest position snapshot (`hf`, may be None)."""
    return conn.execute(
        "SELECT DISTINCT ON (portfolio_id) portfolio_id, min_health_factor::float8 AS hf "
        "FROM position_snapshots WHERE portfolio_id = ANY(%s) ORDER BY portfolio_id, taken_at DESC",
        (list(portfolio_ids),),
    ).fetchall()


class RuleSourceRecords(Protocol):
    """What the tick's Postgres snapshot sources read (`tidewatch.rules.sources`), as the
    functions above answer: rows are dicts, numbers as floats."""

    def latest_market_rows(self) -> list[dict[str, Any]]:
        """Each market's latest rate row (by block), by market id: market_id, supply_apy,
        borrow_apy, price_usd, observed_at, chain_id, asset_symbol."""
        ...

    def price_window_rows(
        self, chain_ids: Sequence[int], assets: Sequence[str], window_seconds: Sequence[int], at: datetime
    ) -> list[dict[str, Any]]:
        """Per (chain, asset, window) with a price at `at` and one a window earlier: chain_id,
        asset, window_seconds, now_price, then_price."""
        ...

    def latest_health_factor_rows(self, portfolio_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Per portfolio with a snapshot: portfolio_id and `hf` of its latest (may be None)."""
        ...


class RuleSourcesRepository(Protocol):
    """`session()`: one connection, each read on its own."""

    def session(self) -> AbstractContextManager[RuleSourceRecords]: ...


class PostgresRuleSourceRecords:
    """`RuleSourceRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def latest_market_rows(self) -> list[dict[str, Any]]:
        return latest_market_rows(self.conn)

    def price_window_rows(
        self, chain_ids: Sequence[int], assets: Sequence[str], window_seconds: Sequence[int], at: datetime
    ) -> list[dict[str, Any]]:
        return price_window_rows(self.conn, chain_ids, assets, window_seconds, at)

    def latest_health_factor_rows(self, portfolio_ids: Sequence[int]) -> list[dict[str, Any]]:
        return latest_health_factor_rows(self.conn, portfolio_ids)


class PostgresRuleSources(UnitOfWork[RuleSourceRecords]):
    """`RuleSourcesRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresRuleSourceRecords)


def rule_sources(sources: RuleSourcesRepository | Database) -> RuleSourcesRepository:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresRuleSources(sources) if isinstance(sources, Database) else sources


# ---- Webhook deliveries: the log and the retry queue ------------------------------------------


def enqueue_delivery(conn: Connection, rule_id: int, url: str, payload: str) -> int:
    row = conn.execute(
        "INSERT INTO webhook_deliveries (rule_id, url, payload, next_attempt_at) "
        "VALUES (%s, %s, %s::jsonb, now()) RETURNING id",
        (rule_id, url, payload),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    """The delivery's rule (None once deleted), URL, body text and attempts so far."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT id, rule_id, url, payload::text AS body, attempt FROM webhook_deliveries WHERE id = %s",
        (delivery_id,),
    ).fetchone()
    return row


def record_delivery_attempt(
    conn: Connection,
    delivery_id: int,
    *,
    attempt: int,
    status: str,
    response_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    conn.execute(
        "UPDATE webhook_deliveries SET attempt = %s, status = %s, response_code = %s, last_error = %s, "
        "next_attempt_at = %s, updated_at = now() WHERE id = %s",
        (attempt, status, response_code, error, next_attempt_at, delivery_id),
    )


def due_deliveries(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Pending deliveries already attempted whose backoff has elapsed, longest waiting first."""
    rows = conn.execute(
        "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND attempt > 0 "
        "AND next_attempt_at <= %s ORDER BY next_attempt_at LIMIT %s",
        (now, limit),
    ).fetchall()
    return [int(r["id"]) for r in rows]


def cancel_pending_deliveries(conn: Connection, rule_id: int) -> int:
    """Mark a rule's pending deliveries failed ("cancelled") in the caller's transaction, so no
    retry goes out once the rule is deleted."""
    cur = conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, "
        "last_error = 'cancelled: the rule was deleted', updated_at = now() "
        "WHERE rule_id = %s AND status = 'pending'",
        (rule_id,),
    )
    return int(cur.rowcount)
