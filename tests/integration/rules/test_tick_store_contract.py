"""The in-memory tick store (tests/fakes) answers as the Postgres adapter: the same rules load to
the same columns and rejects, and the same claims and disables win and lose alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.rules import InMemoryRuleTick, TickRule
from tidewatch.db import Database
from tidewatch.rules.repository import PostgresRuleTick, RuleTickRepository
from tidewatch.rules.sharding import ShardRange
from tidewatch.rules.store import Claim, RuleCache, claim_firings, disable_rules

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _definitions() -> list[dict[str, Any]]:
    notify = [{"type": "notify"}]
    return [
        {"trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05}, "actions": notify},
        {
            "trigger": {"type": "apy_spread", "market_id": 2, "other_market_id": 3, "op": "below", "threshold": 0.01},
            "conditions": {
                "mode": "all",
                "items": [
                    {
                        "type": "price_change",
                        "chain_id": 1,
                        "asset": "WETH",
                        "window_seconds": 600,
                        "op": "falls",
                        "threshold": 0.1,
                    }
                ],
            },
            "actions": notify,
        },
        {"trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.07}, "actions": notify},
    ]


def _both(db: Database) -> tuple[list[RuleTickRepository], list[int]]:
    """The same three rules of one user (the last disabled) in Postgres and in the fake."""
    fake = InMemoryRuleTick()
    with db.connection() as conn:
        user = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "cd" * 20,)).fetchone()
        assert user
        ids = []
        for k, definition in enumerate(_definitions()):
            row = conn.execute(
                "INSERT INTO rules (user_id, name, definition, enabled) VALUES (%s, 'r', %s::jsonb, %s) "
                "RETURNING id, shard_bucket",
                (user["id"], json.dumps(definition), k < 2),
            ).fetchone()
            assert row
            ids.append(int(row["id"]))
            fake_id = fake.add(
                TickRule(user_id=int(user["id"]), definition=definition, bucket=int(row["shard_bucket"]), enabled=k < 2)
            )
            assert fake_id == ids[-1]
    return [PostgresRuleTick(db), fake], ids


def test_fake_and_postgres_load_claim_and_disable_alike(db: Database) -> None:
    sides, ids = _both(db)
    # Then a cold load gives the same columns on both sides
    loads = [RuleCache(ShardRange(bucket_lo=0, bucket_hi=1023)).load_checked(side) for side in sides]
    columns = ("rule_id", "user_id", "mode", "cadence", "kind", "is_trigger", "market_a", "market_b", "side")
    for name in (*columns, "sign", "use_abs", "threshold", "hysteresis", "price_idx", "rule_pos"):
        assert getattr(loads[0].rules, name).tolist() == getattr(loads[1].rules, name).tolist(), name
    assert loads[0].rules.price_windows == loads[1].rules.price_windows
    assert loads[0].rejected == loads[1].rejected == {}
    # And a claim made twice wins once on both sides, and a disable tells the owner once
    claim = Claim(rule_id=ids[0], window_key="60:1", observed={"trigger_value": 0.06})
    for side in sides:
        assert [c.rule_id for c in claim_firings(side, [claim], [], AT)] == [ids[0]]
        assert claim_firings(side, [claim], [], AT) == []
        assert [d.rule_id for d in disable_rules(side, {ids[0]: "broken", ids[2]: "already off"})] == [ids[0]]
        assert disable_rules(side, {ids[0]: "broken"}) == []
