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

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tidewatch.billing.limits import PlanUsage
from tidewatch.billing.repository import PlanUsageRecords
from tidewatch.db import Connection, Database, UnitOfWork
from tidewatch.rules.predicate_row import FLAT_PREDICATE_COLUMNS

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
        sync_rule_predicates(self.conn, [int(row["id"])])
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
        if row is not None:
            sync_rule_predicates(self.conn, [rule_id])
        return row

    def delete(self, user_id: int, rule_id: int) -> None:
        cancel_pending_deliveries(self.conn, rule_id)
        # The rule's stored predicates go with it (foreign key, ON DELETE CASCADE).
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

# A shard's rules and predicates are each read as one bytea, the concatenation of one
# fixed-width big-endian record a row (`string_agg`, in no particular order: the loader sorts),
# parsed with `np.frombuffer`: a shard of 100,000 rules is two values on the wire and no Python
# object, nor COPY message, per row. The dtypes name the fields in order.
RULE_FIELDS = (
    ("rule_id", ">i8"),
    ("user_id", ">i8"),
    ("portfolio_id", ">i8"),
    ("cadence", ">i4"),
    ("cooldown", ">i4"),
    ("armed", "?"),
    ("last_fired_at", ">i8"),  # timestamptz on the wire: microseconds since 2000-01-01 UTC
    ("crc", ">i8"),
)
# What `rule_predicates.packed` holds (migration 0800), field after field.
PREDICATE_FIELDS = (
    ("rule_id", ">i8"),
    ("crc", ">i8"),
    ("ord", ">i4"),
    ("is_trigger", "?"),
    ("mode", ">i2"),
    ("kind", ">i2"),
    ("market_a", ">i8"),
    ("market_b", ">i8"),
    ("side", ">i2"),
    ("horizon", ">i8"),
    ("chain_id", ">i8"),
    ("asset", "S20"),
    ("asset_ok", "?"),
    ("window_seconds", ">i8"),
    ("op", ">i2"),
    ("threshold", ">f8"),
    ("hysteresis", ">f8"),
)
ASSET_BYTES = 20
_PG_EPOCH = 946_684_800  # 2000-01-01 UTC in Unix seconds
_NEVER = -(2**63)  # '-infinity' on the wire

_IN_SHARD = "shard_bucket BETWEEN %(bucket_lo)s AND %(bucket_hi)s AND id BETWEEN %(id_lo)s AND %(id_hi)s"
_WATCHING_ANY = "(watched_markets && %(markets)s::bigint[] OR watches_prices)"

# An index-only scan of `rules_shard_cover_idx` (the shard's entries; it holds every column read).
_SHARD_RULES_SQL = (
    "SELECT string_agg(int8send(id) || int8send(user_id) || int8send(COALESCE(portfolio_id, 0)) "
    "|| int4send(cadence_seconds) || int4send(cooldown_seconds) || boolsend(armed) "
    "|| timestamptz_send(COALESCE(last_fired_at, '-infinity'::timestamptz)) || int8send(definition_crc), ''::bytea) "
    "FROM rules WHERE enabled AND " + _IN_SHARD + "{watching}"
)
_SHARD_PREDICATES_SQL = (
    "SELECT string_agg(packed, ''::bytea) FROM rule_predicates WHERE "
    + _IN_SHARD.replace("id BETWEEN", "rule_id BETWEEN")
    + "{watching}"
)
_WATCHED_RULES = " AND rule_id IN (SELECT id FROM rules WHERE enabled AND " + _IN_SHARD + " AND " + _WATCHING_ANY + ")"

# Predicates of listed rules flattened from their JSON definitions (rules written past the
# repository, or whose definition cannot convert), columns as `FLAT_PREDICATE_COLUMNS`.
_FLAT_EXPRESSIONS = {"rule_id": "r.id", "is_trigger": "p.ord = 0"}
_PREDICATES_SQL = (
    "SELECT "
    + ", ".join(_FLAT_EXPRESSIONS.get(name, "p." + name) for name in FLAT_PREDICATE_COLUMNS)
    + " FROM rules r CROSS JOIN LATERAL rule_flat_predicates(r.definition) p"
    " WHERE r.enabled AND r.id = ANY(%(ids)s) ORDER BY r.id, p.ord"
)


def native_dtype(fields: Sequence[tuple[str, str]]) -> Any:
    import numpy as np

    return np.dtype([(name, np.dtype(kind).newbyteorder("=")) for name, kind in fields])


def _packed_records(conn: Connection, sql: str, params: Mapping[str, Any], fields: Sequence[tuple[str, str]]) -> Any:
    """The one bytea `sql` answers, as a record array of `fields` in native byte order."""
    import numpy as np
    from psycopg.rows import tuple_row

    with conn.cursor(row_factory=tuple_row, binary=True) as cur:
        row = cur.execute(sql, params).fetchone()
    data = b"" if row is None or row[0] is None else bytes(row[0])
    wire = np.dtype(list(fields))
    if len(data) % wire.itemsize:
        raise ValueError("packed rows do not have the fixed-width layout")
    return np.frombuffer(data, dtype=wire).astype(native_dtype(fields))


def shard_rule_records(conn: Connection, shard_filter: Mapping[str, Any]) -> Any:
    """The shard's enabled rules (with `markets`, those watching them or prices) as a record array
    in no particular order: rule_id, user_id, portfolio_id (0 for none), cadence, cooldown, armed,
    last_fired (epoch seconds, NaN if never) and crc, the definition's hash."""
    import numpy as np

    watching = "" if shard_filter.get("markets") is None else " AND " + _WATCHING_ANY
    rows = _packed_records(conn, _SHARD_RULES_SQL.replace("{watching}", watching), shard_filter, RULE_FIELDS)
    names = [("last_fired", "<f8") if name == "last_fired_at" else (name, kind) for name, kind in RULE_FIELDS]
    out = np.empty(rows.size, dtype=native_dtype(names))
    for name, _ in RULE_FIELDS:
        if name != "last_fired_at":
            out[name] = rows[name]
    raw = rows["last_fired_at"]
    out["last_fired"] = np.where(raw == _NEVER, np.nan, raw / 1e6 + _PG_EPOCH)
    return out


def shard_predicate_records(conn: Connection, shard_filter: Mapping[str, Any]) -> Any:
    """The stored predicates of the shard's rules as a record array of `PREDICATE_FIELDS` (native
    byte order) in no particular order; `crc` is the hash of the definition they came from."""
    watching = "" if shard_filter.get("markets") is None else _WATCHED_RULES
    sql = _SHARD_PREDICATES_SQL.replace("{watching}", watching)
    return _packed_records(conn, sql, shard_filter, PREDICATE_FIELDS)


def begin_rule_snapshot(conn: Connection) -> None:
    """Make the caller's open transaction one consistent read-only view for the rule loads."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # The planner guesses 100 conditions a rule (jsonb_array_elements), so the JSON predicate
    # query looks costly enough to JIT-compile; compiling takes longer than running it.
    conn.execute("SET LOCAL jit = off")


def predicate_rows(conn: Connection, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Predicates of the listed enabled rules flattened from JSON, columns as `FLAT_PREDICATE_COLUMNS`.
    Codes the flattening does not know read as 99. Raises psycopg.DataError when a definition
    cannot convert."""
    from psycopg.rows import tuple_row

    with conn.cursor(row_factory=tuple_row) as cur:
        return cur.execute(_PREDICATES_SQL, {"ids": list(ids)}).fetchall()


def sync_rule_predicates(conn: Connection, rule_ids: Sequence[int]) -> None:
    """Bring the stored predicates of `rule_ids` in step with the rules, in the caller's
    transaction: an enabled rule's rows replaced by its definition's, any other rule's removed."""
    if rule_ids:
        conn.execute("SELECT rule_predicates_sync(%s::bigint[])", (list(rule_ids),))


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
    rows = conn.execute(
        "UPDATE rules SET enabled = false, disabled_reason = r.reason, updated_at = now() "
        "FROM unnest(%s::bigint[], %s::text[]) AS r(id, reason) WHERE rules.id = r.id AND rules.enabled "
        "RETURNING rules.id, rules.user_id, rules.name, rules.disabled_reason",
        (list(rule_ids), list(reasons)),
    ).fetchall()
    sync_rule_predicates(conn, [int(r["id"]) for r in rows])
    return rows


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


def insert_rule_fired_notifications(conn: Connection, rows: Sequence[tuple[int, str, str, int]]) -> list[int]:
    """`rule_fired` notifications for (user id, title, body JSON, rule id) rows in one statement;
    their ids in the rows' order (ids are assigned in insertion order, which follows `ord`)."""
    inserted = conn.execute(
        "INSERT INTO notifications (user_id, kind, title, body, rule_id) "
        "SELECT n.user_id, 'rule_fired', n.title, n.body::jsonb, n.rule_id "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[]) WITH ORDINALITY AS n(user_id, title, body, rule_id, ord) "
        "ORDER BY n.ord RETURNING id",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]),
    ).fetchall()
    return sorted(int(r["id"]) for r in inserted)


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


# ---- The tick's unit of work: the port the loader, the claims and the disables go through -------


class UnconvertibleDefinition(Exception):
    """Some listed rule's definition cannot be flattened (the database's reason as the message)."""


class RuleLoadRecords(Protocol):
    """One consistent read-only view of the rules for a shard load (`tidewatch.rules.store`)."""

    def shard_rules(self, shard_filter: Mapping[str, Any]) -> Any:
        """As `shard_rule_records`."""
        ...

    def stored_predicates(self, shard_filter: Mapping[str, Any]) -> Any:
        """As `shard_predicate_records`."""
        ...

    def flattened_predicates(self, rule_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """As `predicate_rows`; raises `UnconvertibleDefinition` (the view stays usable)."""
        ...


class RuleTickRecords(Protocol):
    """The tick's writes within one transaction: claims, rule state, disables (rows are dicts)."""

    def rules_to_claim(self, rule_ids: Sequence[int]) -> list[dict[str, Any]]: ...

    def insert_firings(
        self, now: datetime, rule_ids: Sequence[int], window_keys: Sequence[str], observed: Sequence[str]
    ) -> list[dict[str, Any]]: ...

    def disarm_fired(self, rule_ids: Sequence[int], now: datetime) -> None: ...

    def rearm(self, rule_ids: Sequence[int]) -> None: ...

    def disable_with_reasons(self, rule_ids: Sequence[int], reasons: Sequence[str]) -> list[dict[str, Any]]: ...

    def insert_rule_disabled_notification(self, user_id: int, title: str, body: str, rule_id: int) -> int: ...


class RuleTickRepository(Protocol):
    """`snapshot()` for loads, `transaction()` for the claims and disables."""

    def snapshot(self) -> AbstractContextManager[RuleLoadRecords]: ...

    def transaction(self) -> AbstractContextManager[RuleTickRecords]: ...


class PostgresRuleLoadRecords:
    """`RuleLoadRecords` over one connection in a REPEATABLE READ READ ONLY transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def shard_rules(self, shard_filter: Mapping[str, Any]) -> Any:
        return shard_rule_records(self.conn, shard_filter)

    def stored_predicates(self, shard_filter: Mapping[str, Any]) -> Any:
        return shard_predicate_records(self.conn, shard_filter)

    def flattened_predicates(self, rule_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with self.conn.transaction():  # a savepoint: a failed query leaves the view usable
                return predicate_rows(self.conn, rule_ids)
        except psycopg.DataError as exc:
            raise UnconvertibleDefinition(str(exc)) from exc


class PostgresRuleTickRecords:
    """`RuleTickRecords` over one connection (the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def rules_to_claim(self, rule_ids: Sequence[int]) -> list[dict[str, Any]]:
        return rules_to_claim(self.conn, rule_ids)

    def insert_firings(
        self, now: datetime, rule_ids: Sequence[int], window_keys: Sequence[str], observed: Sequence[str]
    ) -> list[dict[str, Any]]:
        return insert_firings(self.conn, now, rule_ids, window_keys, observed)

    def disarm_fired(self, rule_ids: Sequence[int], now: datetime) -> None:
        disarm_fired(self.conn, rule_ids, now)

    def rearm(self, rule_ids: Sequence[int]) -> None:
        rearm(self.conn, rule_ids)

    def disable_with_reasons(self, rule_ids: Sequence[int], reasons: Sequence[str]) -> list[dict[str, Any]]:
        return disable_with_reasons(self.conn, rule_ids, reasons)

    def insert_rule_disabled_notification(self, user_id: int, title: str, body: str, rule_id: int) -> int:
        return insert_rule_disabled_notification(self.conn, user_id, title, body, rule_id)


class PostgresRuleTick(UnitOfWork[RuleTickRecords]):
    """`RuleTickRepository` over a database: `transaction()` as every adapter (D48), and
    `snapshot()`, one REPEATABLE READ READ ONLY transaction for a load."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresRuleTickRecords)
        self._database = database

    @contextmanager
    def snapshot(self) -> Iterator[RuleLoadRecords]:
        with self._database.connection() as conn, conn.transaction():
            begin_rule_snapshot(conn)
            yield PostgresRuleLoadRecords(conn)


def rule_tick(tick: RuleTickRepository | Database) -> RuleTickRepository:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresRuleTick(tick) if isinstance(tick, Database) else tick


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


class ShardCountRecords(Protocol):
    """What the coordinator counts (`tidewatch.rules.shard_store`), as the functions above answer;
    with `markets`, only the enabled rules that watch one of them or watch prices count."""

    def bucket_counts(self, markets: list[int] | None) -> dict[int, int]:
        """Enabled rules per bucket (buckets without any absent)."""
        ...

    def bucket_cuts(self, bucket: int, fractions: Sequence[float], markets: list[int] | None) -> list[int]:
        """The rule ids at `fractions` of the bucket's enabled rules by id (`percentile_disc`)."""
        ...


class ShardCountsRepository(Protocol):
    """`session()`: one connection for the counts of one plan."""

    def session(self) -> AbstractContextManager[ShardCountRecords]: ...


class PostgresShardCountRecords:
    """`ShardCountRecords` over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def bucket_counts(self, markets: list[int] | None) -> dict[int, int]:
        return bucket_counts(self.conn, markets)

    def bucket_cuts(self, bucket: int, fractions: Sequence[float], markets: list[int] | None) -> list[int]:
        return bucket_cuts(self.conn, bucket, fractions, markets)


class PostgresShardCounts(UnitOfWork[ShardCountRecords]):
    """`ShardCountsRepository` over a database."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PostgresShardCountRecords)


def shard_counts(counts: ShardCountsRepository | Database) -> ShardCountsRepository:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresShardCounts(counts) if isinstance(counts, Database) else counts


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


# ---- Ports of the actions' records and of the webhook queue (one connection a call) ----------


class ValueRefused(Exception):
    """PostgreSQL refused a value the caller built (the database's reason as the message)."""


class RuleActionRecords(Protocol):
    """What `tidewatch.rules.actions.ActionRunner` stores and reads, as the functions above."""

    def unfinished_firings(
        self, *, now: datetime, max_rounds: int, stale_seconds: int, limit: int
    ) -> list[dict[str, Any]]: ...

    def insert_rule_fired_notification(self, user_id: int, title: str, body: str, rule_id: int) -> int:
        """The notification's id; raises `ValueRefused` when the title or body cannot be stored."""
        ...

    def insert_rule_fired_notifications(self, rows: Sequence[tuple[int, str, str, int]]) -> list[int]:
        """(user id, title, body, rule id) rows stored all or none; their ids in order. Raises
        `ValueRefused` when any row cannot be stored (then none is)."""
        ...

    def record_action_results(self, results: Sequence[tuple[str, str | None, int, int]]) -> None: ...


class PostgresRuleActions:
    """`RuleActionRecords` over a database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def unfinished_firings(
        self, *, now: datetime, max_rounds: int, stale_seconds: int, limit: int
    ) -> list[dict[str, Any]]:
        with self._db.connection() as conn:
            return unfinished_firings(conn, now=now, max_rounds=max_rounds, stale_seconds=stale_seconds, limit=limit)

    def insert_rule_fired_notification(self, user_id: int, title: str, body: str, rule_id: int) -> int:
        import psycopg

        try:
            with self._db.connection() as conn:
                return insert_rule_fired_notification(conn, user_id, title, body, rule_id)
        except psycopg.DataError as exc:
            raise ValueRefused(str(exc)) from exc

    def insert_rule_fired_notifications(self, rows: Sequence[tuple[int, str, str, int]]) -> list[int]:
        import psycopg

        try:
            with self._db.transaction() as conn:
                return insert_rule_fired_notifications(conn, rows)
        except psycopg.DataError as exc:
            raise ValueRefused(str(exc)) from exc

    def record_action_results(self, results: Sequence[tuple[str, str | None, int, int]]) -> None:
        with self._db.connection() as conn:
            record_action_results(conn, results)


def rule_actions(records: RuleActionRecords | Database) -> RuleActionRecords:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresRuleActions(records) if isinstance(records, Database) else records


class WebhookQueue(Protocol):
    """The webhook delivery log and retry queue (`tidewatch.rules.webhooks`), as the functions below."""

    def enqueue_delivery(self, rule_id: int, url: str, payload: str) -> int: ...

    def delivery(self, delivery_id: int) -> dict[str, Any] | None: ...

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        attempt: int,
        status: str,
        response_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None: ...

    def due_deliveries(self, now: datetime, limit: int) -> list[int]: ...


class PostgresWebhookQueue:
    """`WebhookQueue` over a database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def enqueue_delivery(self, rule_id: int, url: str, payload: str) -> int:
        with self._db.connection() as conn:
            return enqueue_delivery(conn, rule_id, url, payload)

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        with self._db.connection() as conn:
            return delivery(conn, delivery_id)

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
        with self._db.connection() as conn:
            record_delivery_attempt(
                conn,
                delivery_id,
                attempt=attempt,
                status=status,
                response_code=response_code,
                error=error,
                next_attempt_at=next_attempt_at,
            )

    def due_deliveries(self, now: datetime, limit: int) -> list[int]:
        with self._db.connection() as conn:
            return due_deliveries(conn, now, limit)


def webhook_queue(queue: WebhookQueue | Database) -> WebhookQueue:
    """The port itself, or a `Database` wrapped in the Postgres adapter."""
    return PostgresWebhookQueue(queue) if isinstance(queue, Database) else queue
