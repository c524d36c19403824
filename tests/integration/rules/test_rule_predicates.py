"""The stored predicate table (`rule_predicates`) follows the rule writes, and shard loads read it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidewatch.db import Database
from tidewatch.rules.repository import PostgresRules, RuleValues
from tidewatch.rules.sharding import BUCKETS, ShardRange
from tidewatch.rules.store import RuleCache, disable_rules

pytestmark = pytest.mark.integration


def _definition(threshold: float, *, conditions: bool = False) -> str:
    body: dict[str, Any] = {
        "trigger": {"type": "market_apy", "market_id": 1, "side": "supply", "op": "above", "threshold": threshold},
        "actions": [{"type": "notify"}],
    }
    if conditions:
        body["conditions"] = {
            "mode": "any",
            "items": [
                {
                    "type": "price_change",
                    "chain_id": 1,
                    "asset": "WETH",
                    "window_seconds": 600,
                    "op": "moves",
                    "threshold": 0.1,
                },
                {"type": "market_apy", "market_id": 2, "op": "below", "threshold": 0.2},
            ],
        }
    return json.dumps(body)


def _values(threshold: float, *, enabled: bool = True, conditions: bool = False) -> RuleValues:
    return RuleValues("r", None, _definition(threshold, conditions=conditions), 60, 3600, enabled)


def _users(db: Database, n: int) -> list[int]:
    with db.connection() as conn:
        rows = conn.execute(
            "INSERT INTO users (address) SELECT '0x' || lpad(to_hex(g), 40, '0') FROM generate_series(1, %s) g "
            "RETURNING id",
            (n,),
        ).fetchall()
    return [int(r["id"]) for r in rows]


def _stored(db: Database) -> dict[int, list[tuple[Any, ...]]]:
    """rule id -> its predicate rows (ord, kind, market_a, op, threshold), only rows of the rule's
    current definition and bucket."""
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT p.rule_id, p.ord, p.kind, p.market_a, p.op, p.threshold, p.mode, "
            "p.definition_crc = r.definition_crc AND p.shard_bucket = r.shard_bucket AS current "
            "FROM rule_predicates p JOIN rules r ON r.id = p.rule_id ORDER BY p.rule_id, p.ord"
        ).fetchall()
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        assert r["current"]
        out.setdefault(int(r["rule_id"]), []).append((r["ord"], r["kind"], r["market_a"], r["op"], r["threshold"]))
    return out


def test_rule_writes_keep_the_predicate_table_in_step(db: Database) -> None:
    # Given two rules written through the repository, one with two extra conditions
    [user] = _users(db, 1)
    rules = PostgresRules(db)
    with rules.transaction() as records:
        plain = int(records.insert(user, _values(0.05))["id"])
        mixed = int(records.insert(user, _values(0.05, conditions=True))["id"])
    # Then each has its trigger and conditions stored as columns
    assert _stored(db) == {
        plain: [(0, 0, 1, 0, 0.05)],
        mixed: [(0, 0, 1, 0, 0.05), (1, 4, 0, 4, 0.1), (2, 0, 2, 1, 0.2)],
    }
    # When one is edited (new threshold, conditions dropped) and the other disabled by its owner
    with rules.transaction() as records:
        records.update(user, mixed, _values(0.07), rearm=False)
        records.update(user, plain, _values(0.05, enabled=False), rearm=False)
    # Then the edited rule has its new rows only, and the disabled one none
    assert _stored(db) == {mixed: [(0, 0, 1, 0, 0.07)]}
    # When it is enabled again, and the other is disabled by the tick and then deleted
    with rules.transaction() as records:
        records.update(user, plain, _values(0.05), rearm=True)
    assert set(_stored(db)) == {plain, mixed}
    disable_rules(db, {mixed: "broken"})
    assert set(_stored(db)) == {plain}
    with rules.transaction() as records:
        records.delete(user, plain)
    # Then nothing is left, and a load finds no rule
    assert _stored(db) == {}
    assert len(RuleCache().load(db)) == 0


def test_a_definition_changed_past_the_repository_is_loaded_from_its_json(db: Database) -> None:
    # Given a rule written through the repository and loaded once by a warm cache
    [user] = _users(db, 1)
    with PostgresRules(db).transaction() as records:
        rule_id = int(records.insert(user, _values(0.05))["id"])
    cache = RuleCache()
    assert cache.load(db).threshold.tolist() == [0.05]
    # When its definition is rewritten by hand (no repository, no updated_at), and another rule
    # is inserted by hand, neither reaching the predicate table
    with db.connection() as conn:
        conn.execute("UPDATE rules SET definition = %s::jsonb WHERE id = %s", (_definition(0.09), rule_id))
        other = conn.execute(
            "INSERT INTO rules (user_id, name, definition) VALUES (%s, 'x', %s::jsonb) RETURNING id",
            (user, _definition(0.03, conditions=True)),
        ).fetchone()
    assert other is not None
    # Then the warm and a cold load both evaluate the current definitions
    for load in (cache.load(db), RuleCache().load(db)):
        assert load.rule_id.tolist() == [rule_id, int(other["id"])]
        assert load.threshold.tolist() == [0.09, 0.03, 0.1, 0.2]
        assert load.mode.tolist() == [0, 2]
        assert load.price_windows == ((1, "WETH", 600),)


def test_a_shard_loads_only_its_own_rules(db: Database) -> None:
    # Given 60 users with two rules each, written through the repository
    users = _users(db, 60)
    with PostgresRules(db).transaction() as records:
        for user in users:
            records.insert(user, _values(0.05))
            records.insert(user, _values(0.06, conditions=True))
    with db.connection() as conn:
        bucket_of = {
            int(r["id"]): int(r["shard_bucket"]) for r in conn.execute("SELECT id, shard_bucket FROM rules").fetchall()
        }
    # When the buckets are cut in three shards and each loads cold
    cuts = [(0, BUCKETS // 3 - 1), (BUCKETS // 3, 2 * BUCKETS // 3 - 1), (2 * BUCKETS // 3, BUCKETS - 1)]
    seen: list[int] = []
    for lo, hi in cuts:
        loaded = RuleCache(ShardRange(bucket_lo=lo, bucket_hi=hi)).load(db)
        ids = loaded.rule_id.tolist()
        # Then every rule a shard evaluates is of its buckets, and each predicate is of its rules
        assert all(lo <= bucket_of[i] <= hi for i in ids)
        assert loaded.rule_pos.max(initial=-1) < len(ids)
        assert sorted(set(loaded.rule_id[loaded.rule_pos].tolist())) == ids
        seen += ids
    # And together the shards cover every rule exactly once
    assert sorted(seen) == sorted(bucket_of)
    # And a shard cut inside one bucket by id reads only that id range
    bucket, first = min((b, i) for i, b in bucket_of.items())
    inside = RuleCache(ShardRange(bucket_lo=bucket, bucket_hi=bucket, id_lo=first, id_hi=first)).load(db)
    assert inside.rule_id.tolist() == [first]
