"""One user's broken rule never stops anyone else's: it is disabled, its owner is told, the rest fire."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.rules import FakeMarkets, FakePusher
from tests.integration.rules.seeds import insert_rule
from tidewatch.db import Database
from tidewatch.rules.actions import ActionRunner
from tidewatch.rules.store import RuleCache
from tidewatch.rules.tick import TickSources, run_tick

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GOOD = {
    "name": "USDC above 5 %",
    "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
    "actions": [{"type": "notify"}],
}
BIG = 9_223_372_036_854_775_808  # one past bigint


def seed_two_users(db: Database) -> tuple[int, int]:
    with db.connection() as conn:
        ids = [
            int(row["id"])
            for row in conn.execute(
                "INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa'), "
                "('0x00000000000000000000000000000000000000bb') RETURNING id"
            ).fetchall()
        ]
    return ids[0], ids[1]


def insert_raw(db: Database, user_id: int, definition: dict[str, Any], name: str = "poisoned") -> int:
    """A rule written straight to the table, past the API's validation."""
    with db.connection() as conn:
        row = conn.execute(
            "INSERT INTO rules (user_id, name, definition) VALUES (%s, %s, %s::jsonb) RETURNING id",
            (user_id, name, json.dumps(definition)),
        ).fetchone()
    assert row
    return int(row["id"])


POISONS: dict[str, dict[str, Any]] = {
    "market id past bigint": {
        "trigger": {"type": "market_apy", "market_id": BIG, "op": "above", "threshold": 0.01},
        "actions": [{"type": "notify"}],
    },
    "threshold not a number": {
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": "lots"},
        "actions": [{"type": "notify"}],
    },
    "unknown trigger type": {
        "trigger": {"type": "moon_phase", "threshold": 0.01},
        "actions": [{"type": "notify"}],
    },
    "condition past bigint": {
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.01},
        "conditions": {
            "mode": "all",
            "items": [{"type": "market_apy", "market_id": BIG, "op": "above", "threshold": 0}],
        },
        "actions": [{"type": "notify"}],
    },
    "action the model refuses": {
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.01},
        "actions": [{"type": "launch_missiles"}],
    },
    "notification title longer than the model allows": {
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.01},
        "actions": [{"type": "notify", "title": "x" * 10_000}],
    },
    "conditions not a list": {
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.01},
        "conditions": {"mode": "all", "items": {"type": "market_apy"}},
        "actions": [{"type": "notify"}],
    },
    "price window past the integer column": {
        "trigger": {"type": "price_change", "asset": "WETH", "window_seconds": 2**40, "op": "moves", "threshold": 0.1},
        "actions": [{"type": "notify"}],
    },
    "price chain past the integer column": {
        "trigger": {"type": "price_change", "chain_id": 2**40, "asset": "WETH", "op": "moves", "threshold": 0.1},
        "actions": [{"type": "notify"}],
    },
    "risk horizon the scorer has no model for": {
        "trigger": {"type": "risk_forecast_above", "horizon_hours": 5, "threshold": 0.01},
        "actions": [{"type": "notify"}],
    },
}


def _tick(db: Database, *, changed: list[int] | None, cache: RuleCache | None = None) -> Any:
    return run_tick(
        at=AT,
        database=db,
        sources=TickSources(markets=FakeMarkets({1: 0.06})),
        runner=ActionRunner(db, pusher=FakePusher(), preparer=None, webhooks=None, backoff_seconds=0.0),
        changed_markets=changed,
        cache=cache,
    )


@pytest.mark.parametrize("changed", [None, [1]], ids=["scheduled", "event-driven"])
@pytest.mark.parametrize("poison", list(POISONS), ids=list(POISONS))
def test_a_poisoned_rule_is_disabled_and_every_other_rule_fires(db: Database, poison: str, changed: Any) -> None:
    # Given Alice's ordinary rule and Bob's rule that cannot be evaluated, written straight to the DB
    alice, bob = seed_two_users(db)
    bad = insert_raw(db, bob, POISONS[poison])
    good = insert_rule(db, alice, GOOD)
    # When a tick runs (scheduled, or driven by a "market 1 changed" event)
    report = _tick(db, changed=changed, cache=RuleCache())
    # Then Alice's rule fired and her notification is stored
    with db.connection() as conn:
        fired = conn.execute("SELECT rule_id FROM rule_executions WHERE fired ORDER BY rule_id").fetchall()
        rules = {int(r["id"]): r for r in conn.execute("SELECT id, enabled, disabled_reason FROM rules").fetchall()}
        notes = conn.execute("SELECT user_id, kind, title, body, rule_id FROM notifications ORDER BY id").fetchall()
    assert good in [int(r["rule_id"]) for r in fired]
    assert rules[good]["enabled"] is True
    assert [n["user_id"] for n in notes if n["kind"] == "rule_fired"] == [alice]
    # And Bob's rule is disabled with its reason, and Bob (only Bob) is told why
    assert rules[bad]["enabled"] is False
    assert rules[bad]["disabled_reason"]
    [disabled] = [n for n in notes if n["kind"] == "rule_disabled"]
    assert (disabled["user_id"], disabled["rule_id"]) == (bob, bad)
    assert disabled["body"]["reason"] == rules[bad]["disabled_reason"]
    assert report.disabled == 1
    # And the next tick neither fails nor disables anything more
    again = _tick(db, changed=changed)
    assert again.disabled == 0


def test_a_rule_disabled_by_the_tick_can_be_repaired_and_re_enabled(db: Database) -> None:
    from tidewatch.rules.model import RulePatch
    from tidewatch.rules.repository import PostgresRules
    from tidewatch.rules.service import RulesService

    # Given Bob's rule disabled by the tick for an out-of-range market id
    _, bob = seed_two_users(db)
    bad = insert_raw(db, bob, POISONS["market id past bigint"])
    _tick(db, changed=None)
    service = RulesService(PostgresRules(db), signing_key=b"k" * 32)
    shown = service.get(bob, bad)
    assert shown.enabled is False
    assert shown.disabled_reason is not None
    assert "out of range" in shown.disabled_reason
    assert shown.trigger is None  # the stored trigger no longer validates: shown as null
    assert [r.id for r in service.list(bob).items] == [bad]
    # When he replaces the trigger and enables it again
    fixed = service.update(
        bob,
        bad,
        RulePatch.model_validate(
            {
                "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
                "cadence_seconds": 300,
                "enabled": True,
            }
        ),
    )
    # Then it is enabled with no reason left
    assert fixed.enabled is True
    assert fixed.disabled_reason is None


def test_a_rule_corrupted_after_a_failed_firing_does_not_break_the_retry_sweep(db: Database) -> None:
    from datetime import timedelta

    from tests.fakes.rules import DownPreparer

    # Given Bob's rule that fired with a failed action (wallet down), and Alice's ordinary rule
    alice, bob = seed_two_users(db)
    with db.connection() as conn:
        portfolio = conn.execute(
            "INSERT INTO portfolios (user_id, name) VALUES (%s, 'p') RETURNING id", (bob,)
        ).fetchone()
    assert portfolio
    bobs = insert_rule(
        db,
        bob,
        {
            "name": "repay",
            "portfolio_id": int(portfolio["id"]),
            "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
            "actions": [{"type": "prepare_transaction", "intent": {"kind": "repay_to_health_factor", "market_id": 1}}],
        },
    )
    runner = ActionRunner(db, pusher=FakePusher(), preparer=DownPreparer(), webhooks=None, backoff_seconds=0.0)
    sources = TickSources(markets=FakeMarkets({1: 0.06}))
    assert run_tick(at=AT, database=db, sources=sources, runner=runner).action_failures == 1
    # When Bob's stored definition is corrupted past the API, and Alice adds a rule
    with db.connection() as conn:
        conn.execute("UPDATE rules SET definition = '{\"trigger\": 1}'::jsonb WHERE id = %s", (bobs,))
    good = insert_rule(db, alice, GOOD)
    later = run_tick(at=AT + timedelta(minutes=1), database=db, sources=sources, runner=runner)
    # Then the sweep skips Bob's old firing, Alice's rule fires, and Bob's rule is disabled
    assert later.fired == 1
    assert later.disabled == 1
    with db.connection() as conn:
        fired = [r["rule_id"] for r in conn.execute("SELECT rule_id FROM rule_executions ORDER BY id").fetchall()]
        swept = conn.execute("SELECT action_rounds FROM rule_executions WHERE rule_id = %s", (bobs,)).fetchone()
    assert fired == [bobs, good]
    assert swept == {"action_rounds": 5}


def test_an_action_the_database_refuses_is_permanent_not_retried(db: Database) -> None:
    from tidewatch.rules.actions import Firing
    from tidewatch.rules.model import NotifyAction

    # Given a firing whose notification title PostgreSQL cannot store (built past validation)
    _, bob = seed_two_users(db)
    rule_id = insert_raw(db, bob, {"trigger": GOOD["trigger"], "actions": [{"type": "notify"}]}, name="n")
    with db.connection() as conn:
        execution = conn.execute(
            "INSERT INTO rule_executions (rule_id, window_key, fired) VALUES (%s, 'w', true) RETURNING id", (rule_id,)
        ).fetchone()
    assert execution
    action = NotifyAction.model_construct(type="notify", title="bad\x00title", severity="warning")
    firing = Firing(int(execution["id"]), rule_id, bob, None, "n", "w", AT, {}, [action])
    runner = ActionRunner(db, pusher=FakePusher(), preparer=None, webhooks=None, attempts=3, backoff_seconds=0.0)
    # When it runs
    [result] = runner.run([firing])[int(execution["id"])]
    # Then it failed once, for good, and says why
    assert (result.ok, result.permanent, result.attempts) == (False, True, 1)
    assert result.error is not None
    assert result.error.startswith("permanent: notification cannot be stored")


def test_with_the_real_postgres_sources_a_poisoned_price_rule_stops_no_one(db: Database) -> None:
    from datetime import timedelta

    from tidewatch.rules.sources import PostgresMarketSource

    # Given ingested WETH prices (up 10 % over the last hour) and Alice's "WETH moves 5 %" rule
    alice, bob = seed_two_users(db)
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO asset_prices (chain_id, asset_symbol, observed_at, price_usd) VALUES "
            "(1, 'WETH', %s, 3000), (1, 'WETH', %s, 3300)",
            (AT - timedelta(hours=2), AT - timedelta(minutes=1)),
        )
    good = insert_rule(
        db,
        alice,
        {
            "name": "weth",
            "trigger": {"type": "price_change", "asset": "WETH", "op": "moves", "threshold": 0.05},
            "actions": [{"type": "notify"}],
        },
    )
    # And Bob's price rule whose chain id does not fit the price query's integer column
    bad = insert_raw(db, bob, POISONS["price chain past the integer column"])
    # When a tick runs against the real Postgres market and price source
    report = run_tick(
        at=AT,
        database=db,
        sources=TickSources(markets=PostgresMarketSource(db)),
        runner=ActionRunner(db, pusher=FakePusher(), preparer=None, webhooks=None, backoff_seconds=0.0),
    )
    # Then Alice's rule fired and Bob's was disabled
    assert (report.fired, report.disabled) == (1, 1)
    with db.connection() as conn:
        rows = {int(r["id"]): r["enabled"] for r in conn.execute("SELECT id, enabled FROM rules").fetchall()}
    assert rows == {good: True, bad: False}
