"""The rules function end to end from its sample events: schedule and duplicated "market changed"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rules import logic
from rules.deps import build_deps
from rules.handler import RulesEvent
from tests.fakes.rules import RecordingPoster
from tests.integration.rules.seeds import insert_rule, seed_market_rates, seed_users
from tidewatch.db import Database
from tidewatch.entrypoint import run_typed
from tidewatch.events import MarketChangedEvent, ScheduledEvent
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.repository import ConnectionStore
from tidewatch.rules.settings import RulesSettings

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events" / "rules"


def invoke(event: dict[str, Any], db: Database, poster: RecordingPoster) -> dict[str, Any]:
    store = ConnectionStore(db)
    deps = build_deps(db, settings=RulesSettings(), broadcaster=Broadcaster(store, poster, max_workers=2))

    def dispatch(parsed: Any) -> Any:
        if isinstance(parsed, MarketChangedEvent):
            return logic.evaluate_market_changed(parsed, deps=deps)
        assert isinstance(parsed, ScheduledEvent)
        return logic.evaluate_scheduled(parsed, deps=deps)

    return run_typed(event, RulesEvent, dispatch)


def test_scheduled_event_evaluates_rules_from_postgres(db: Database) -> None:
    # Given market 1 ingested at 6 % and a rule "above 5 %"
    alice, _, _, _ = seed_users(db)
    seed_market_rates(db, 0.06)
    insert_rule(
        db,
        alice,
        {
            "name": "r",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
            "actions": [{"type": "notify"}],
        },
    )
    # When the sample scheduled event is handled
    out = invoke(json.loads((EVENTS / "scheduled.json").read_text()), db, RecordingPoster())
    # Then the rule fired once, evaluated against the Postgres market source
    assert out["ok"] is True
    assert (out["result"]["trigger"], out["result"]["fired"]) == ("schedule", 1)


def test_duplicated_market_changed_event_pushes_and_fires_once(db: Database) -> None:
    alice, _, _, _ = seed_users(db)
    seed_market_rates(db, 0.0512)
    ConnectionStore(db).connect("c-alice", alice, "http://local/ws")
    ConnectionStore(db).subscribe("c-alice", "market:1")
    insert_rule(
        db,
        alice,
        {
            "name": "r",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
            "actions": [{"type": "notify"}],
        },
    )
    event = json.loads((EVENTS / "market-changed.json").read_text())
    poster = RecordingPoster()
    # When the same event is delivered twice (EventBridge is at least once)
    first = invoke(event, db, poster)
    with db.connection() as conn:  # the duplicate raced the first: it still saw the rule armed
        conn.execute("UPDATE rules SET armed = true, last_fired_at = NULL")
    second = invoke(event, db, poster)
    # Then the market update was pushed each time, but the rule fired once
    assert (first["result"]["fired"], second["result"]["fired"], second["result"]["duplicates"]) == (1, 0, 1)
    assert [m["type"] for m in poster.sent["c-alice"]] == ["market", "market"]
    assert poster.sent["c-alice"][0]["data"]["supply_apy"] == 0.0512
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM notifications").fetchone() == {"n": 1}


def test_bad_event_gets_an_error_envelope(db: Database) -> None:
    out = invoke({"detail-type": "market.changed", "source": "tidewatch.ingest"}, db, RecordingPoster())
    assert out["ok"] is False
    assert out["error"]["status"] == 422
