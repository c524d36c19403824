"""Loading, claiming and disabling over the `RuleTickRepository` port (in-memory fake)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.fakes.rules import InMemoryRuleTick, TickRule
from tidewatch.rules.sharding import ShardRange
from tidewatch.rules.store import Claim, RuleCache, claim_firings, disable_rules

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _definition(threshold: Any, **trigger: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": threshold, **trigger},
        "actions": [{"type": "notify"}],
    }


def test_a_shard_loads_its_own_rules_and_rejects_only_the_unevaluable_one() -> None:
    # Given rules in buckets 1 and 5, one of bucket 1 with an unknown side, one disabled
    tick = InMemoryRuleTick()
    good = tick.add(TickRule(user_id=1, bucket=1, definition=_definition(0.05)))
    other = tick.add(TickRule(user_id=2, bucket=5, definition=_definition(0.06)))
    bad = tick.add(TickRule(user_id=1, bucket=1, definition=_definition(0.05, side="sideways")))
    tick.add(TickRule(user_id=1, bucket=1, definition=_definition(0.07), enabled=False))
    # When the shard of buckets 0-3 loads
    loaded = RuleCache(ShardRange(bucket_lo=0, bucket_hi=3)).load_checked(tick)
    # Then it holds only its enabled, evaluable rule; the broken one is rejected with a reason
    assert loaded.rules.rule_id.tolist() == [good]
    assert list(loaded.rejected) == [bad]
    assert other not in loaded.rejected


def test_a_duplicated_claim_fires_once_and_a_disable_tells_the_owner_once() -> None:
    # Given a rule that matched
    tick = InMemoryRuleTick()
    rule_id = tick.add(TickRule(user_id=7, definition=_definition(0.05)))
    claim = Claim(rule_id=rule_id, window_key="60:1", observed={"trigger_value": 0.06})
    # When the same claim is made twice (a redelivered shard message)
    first = claim_firings(tick, [claim], [], AT)
    second = claim_firings(tick, [claim], [], AT)
    # Then only the first fires and disarms the rule
    assert [c.rule_id for c in first] == [rule_id]
    assert second == []
    assert tick.rules[rule_id].armed is False
    # And disabling it twice stores one notification
    assert len(disable_rules(tick, {rule_id: "broken"})) == 1
    assert disable_rules(tick, {rule_id: "broken"}) == []
    assert [n["rule_id"] for n in tick.notifications] == [rule_id]
