"""The in-memory shard counts (tests/fakes) answer as the Postgres queries: the same rules give the
same counts per bucket and the same cut points, for schedules and for market events."""

from __future__ import annotations

import json

import pytest

from tests.fakes.rules import InMemoryShardCounts, ShardRow
from tidewatch.db import Database
from tidewatch.rules.repository import PostgresShardCounts, ShardCountsRepository
from tidewatch.rules.shard_store import bucket_counts, split_points

pytestmark = pytest.mark.integration


def _definition(k: int) -> str:
    """Every third rule watches prices, the others market 1 + k % 3 (spreads also market 9)."""
    if k % 3 == 0:
        trigger = {
            "type": "price_change",
            "chain_id": 1,
            "asset": "WETH",
            "window_seconds": 3600,
            "op": "moves",
            "threshold": 0.1,
        }
    elif k % 3 == 1:
        trigger = {"type": "market_apy", "market_id": 1 + k % 3, "op": "above", "threshold": 0.05}
    else:
        trigger = {"type": "apy_spread", "market_id": 1 + k % 3, "other_market_id": 9, "op": "above", "threshold": 0.01}
    return json.dumps({"trigger": trigger, "actions": [{"type": "notify"}]})


def _seed(db: Database) -> InMemoryShardCounts:
    """40 users with 6 rules each, every seventh rule disabled; the same rows as fake rows."""
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO users (address) SELECT '0x' || lpad(to_hex(g), 40, '0') FROM generate_series(1, 40) g"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO rules (user_id, name, definition, enabled) VALUES (%s, 'r', %s::jsonb, %s)",
                [(1 + k % 40, _definition(k), k % 7 != 0) for k in range(240)],
            )
        rows = conn.execute("SELECT id, shard_bucket, enabled, watched_markets, watches_prices FROM rules").fetchall()
    return InMemoryShardCounts(
        [
            ShardRow(
                rule_id=int(r["id"]),
                bucket=int(r["shard_bucket"]),
                enabled=bool(r["enabled"]),
                watched_markets=frozenset(int(m) for m in r["watched_markets"]),
                watches_prices=bool(r["watches_prices"]),
            )
            for r in rows
        ]
    )


def test_fake_and_postgres_count_and_cut_alike(db: Database) -> None:
    # Given the same rules in Postgres and in the fake
    fake = _seed(db)
    sides: list[ShardCountsRepository] = [PostgresShardCounts(db), fake]
    # Then counts agree for a schedule and for market events
    for markets in (None, [1], [2, 9], [5]):
        pg, mem = (bucket_counts(side, markets) for side in sides)
        assert pg == mem
    # And the cut points of the fullest bucket agree for 2, 3 and 5 parts
    counts = bucket_counts(fake)
    fullest = max(counts, key=lambda b: (counts[b], b))
    for parts in (2, 3, 5):
        for markets in (None, [2]):
            pg_cuts, mem_cuts = (split_points(side, fullest, parts, markets) for side in sides)
            assert pg_cuts == mem_cuts
    # And a bucket without rules has no cut points on either side
    empty = next(b for b in range(1024) if b not in counts)
    assert split_points(sides[0], empty, 3) == split_points(fake, empty, 3) == []
