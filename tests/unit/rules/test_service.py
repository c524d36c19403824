"""The rules service's business rules over an in-memory repository: ownership, plan limits,
PATCH merge-and-revalidate, pagination. Postgres tests cover the repository and the routes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.rules import InMemoryRules
from tidewatch.billing.plans import entitlements_for
from tidewatch.errors import InvalidInput, NotFound, PaymentRequired
from tidewatch.rules.egress import EgressPolicy
from tidewatch.rules.model import RulePatch, RuleSpec
from tidewatch.rules.service import RulesService

KEY = b"unit-test-signing-key-0000"


def spec(**overrides: Any) -> RuleSpec:
    body: dict[str, Any] = {
        "name": "usdc above 5%",
        "trigger": {"type": "market_apy", "market_id": 1, "op": "above", "threshold": 0.05},
        "actions": [{"type": "notify"}],
        "cadence_seconds": 300,
    }
    body.update(overrides)
    return RuleSpec.model_validate(body)


WEBHOOK = [{"type": "webhook", "url": "https://hooks.example.com/in"}]


@pytest.fixture
def rules() -> InMemoryRules:
    return InMemoryRules()


@pytest.fixture
def service(rules: InMemoryRules) -> RulesService:
    # No DNS: every webhook host resolves to one public address.
    return RulesService(rules, signing_key=KEY, egress=EgressPolicy(resolve=lambda host, port: ["93.184.215.14"]))


def refusal(exc: pytest.ExceptionInfo[PaymentRequired]) -> tuple[str, Any]:
    problem = exc.value.to_problem()
    return problem["limit"], problem["allowed"]


# Ownership: one user's data is never served to another.


def test_another_users_rule_is_not_found_for_every_operation(rules: InMemoryRules, service: RulesService) -> None:
    # Given Alice's rule
    alice, bob = rules.add_user(), rules.add_user()
    rule = service.create(alice, spec())
    rules.add_execution(rule.id)
    # Then Bob can neither read, list, change, delete nor see the history of it
    for attempt in (
        lambda: service.get(bob, rule.id),
        lambda: service.update(bob, rule.id, RulePatch(name="mine")),
        lambda: service.delete(bob, rule.id),
        lambda: service.executions(bob, rule.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert service.list(bob).items == []
    # And Alice's rule is untouched
    assert service.get(alice, rule.id).name == "usdc above 5%"


def test_a_rule_cannot_point_at_another_users_portfolio_or_destination(
    rules: InMemoryRules, service: RulesService
) -> None:
    alice, bob = rules.add_user(), rules.add_user()
    bobs_portfolio, bobs_destination = rules.add_portfolio(bob), rules.add_destination(bob)
    with pytest.raises(InvalidInput) as portfolio:
        service.create(alice, spec(portfolio_id=bobs_portfolio))
    assert portfolio.value.to_problem()["errors"][0]["field"] == "portfolio_id"
    with pytest.raises(InvalidInput) as destination:
        service.create(alice, spec(actions=[{"type": "deliver", "destinations": [bobs_destination]}]))
    assert destination.value.to_problem()["errors"][0]["field"] == "actions.0.destinations"
    # And with her own they are accepted
    mine = service.create(
        alice,
        spec(
            portfolio_id=rules.add_portfolio(alice),
            actions=[{"type": "deliver", "destinations": [rules.add_destination(alice)]}],
        ),
    )
    assert mine.portfolio_id is not None


def test_notifications_are_the_owners_only(rules: InMemoryRules, service: RulesService) -> None:
    alice, bob = rules.add_user(), rules.add_user()
    mine = rules.add_notification(alice)
    rules.add_notification(bob)
    assert [n.id for n in service.notifications(alice).items] == [mine]


# Plan limits: the figures of the plan table are the ones enforced.


@pytest.mark.parametrize("plan", ["free", "pro"])
def test_the_enabled_rule_limit_is_the_plans(rules: InMemoryRules, service: RulesService, plan: str) -> None:
    # Given a user with as many enabled rules as their plan allows
    user = rules.add_user(plan)
    allowed = entitlements_for(plan).max_rules
    for _ in range(allowed):
        service.create(user, spec())
    # When they add one more enabled rule, it is refused naming the limit, and nothing is written
    with pytest.raises(PaymentRequired) as refused:
        service.create(user, spec())
    assert refusal(refused) == ("max_rules", allowed)
    assert len(rules.state.rules) == allowed
    # Then a disabled one is still accepted, but enabling it is refused
    parked = service.create(user, spec(enabled=False))
    with pytest.raises(PaymentRequired):
        service.update(user, parked.id, RulePatch(enabled=True))


def test_free_refuses_fast_cadences_and_webhooks_pro_allows_them(rules: InMemoryRules, service: RulesService) -> None:
    free, pro = rules.add_user("free"), rules.add_user("pro")
    with pytest.raises(PaymentRequired) as cadence:
        service.create(free, spec(cadence_seconds=60))
    assert refusal(cadence) == ("min_rule_cadence_seconds", entitlements_for("free").min_rule_cadence_seconds)
    with pytest.raises(PaymentRequired) as webhook:
        service.create(free, spec(actions=WEBHOOK))
    assert refusal(webhook) == ("webhook_actions", False)
    fast = service.create(pro, spec(cadence_seconds=60, actions=WEBHOOK))
    assert fast.webhook_secret is not None


def test_a_deleted_user_is_refused(rules: InMemoryRules, service: RulesService) -> None:
    from tidewatch.identity.errors import InvalidToken

    with pytest.raises(InvalidToken):
        service.create(999, spec())


# PATCH: the patch is merged into the stored rule and the whole is validated again.


def test_a_patch_keeps_the_fields_it_does_not_name(rules: InMemoryRules, service: RulesService) -> None:
    user = rules.add_user()
    rule = service.create(user, spec(cooldown_seconds=600))
    patched = service.update(user, rule.id, RulePatch(name="renamed"))
    assert (patched.name, patched.trigger, patched.cooldown_seconds) == ("renamed", rule.trigger, 600)


def test_a_patch_that_breaks_the_merged_rule_is_422_and_changes_nothing(
    rules: InMemoryRules, service: RulesService
) -> None:
    # Given a rule on a market APY (no portfolio needed)
    user = rules.add_user()
    rule = service.create(user, spec())
    # When the trigger is patched to a portfolio trigger, the merged rule lacks a portfolio: 422
    with pytest.raises(InvalidInput) as refused:
        service.update(
            user, rule.id, RulePatch.model_validate({"trigger": {"type": "health_factor_below", "threshold": 1.2}})
        )
    assert refused.value.to_problem()["errors"][0]["field"] == "portfolio_id"
    assert service.get(user, rule.id) == rule


def test_a_patch_is_held_to_the_plan_and_the_owners_portfolios(rules: InMemoryRules, service: RulesService) -> None:
    user, other = rules.add_user("free"), rules.add_user()
    rule = service.create(user, spec())
    with pytest.raises(PaymentRequired):
        service.update(user, rule.id, RulePatch(cadence_seconds=60))
    with pytest.raises(InvalidInput):
        service.update(user, rule.id, RulePatch(portfolio_id=rules.add_portfolio(other)))
    # A disabled rule is not held to the plan until it is enabled again
    disabled = service.update(user, rule.id, RulePatch(enabled=False))
    assert service.update(user, disabled.id, RulePatch(cadence_seconds=60, enabled=False)).cadence_seconds == 60


def test_a_new_trigger_re_arms_the_rule_and_enabling_clears_the_disabled_reason(
    rules: InMemoryRules, service: RulesService
) -> None:
    user = rules.add_user()
    rule = service.create(user, spec())
    rules.state.rules[rule.id].update(armed=False, enabled=False, disabled_reason="plan-rule-limit")
    renamed = service.update(user, rule.id, RulePatch(name="same trigger"))
    assert (renamed.armed, renamed.disabled_reason) == (False, "plan-rule-limit")
    trigger = {"type": "market_apy", "market_id": 2, "op": "below", "threshold": 0.01}
    moved = service.update(user, rule.id, RulePatch.model_validate({"trigger": trigger, "enabled": True}))
    assert (moved.armed, moved.enabled, moved.disabled_reason) == (True, True, None)


def test_a_stored_definition_that_no_longer_validates_is_shown_and_repaired_by_patch(
    rules: InMemoryRules, service: RulesService
) -> None:
    # Given a rule whose stored trigger is no longer valid
    user = rules.add_user()
    rule = service.create(user, spec())
    rules.store_definition(rule.id, {"trigger": {"type": "gone"}, "actions": [{"type": "notify"}]})
    # Then it is shown without its definition
    shown = service.get(user, rule.id)
    assert (shown.trigger, shown.actions) == (None, [])
    # And a PATCH of the trigger alone repairs it, keeping the stored actions
    trigger = {"type": "market_apy", "market_id": 3, "op": "above", "threshold": 0.1}
    repaired = service.update(user, rule.id, RulePatch.model_validate({"trigger": trigger}))
    assert repaired.trigger is not None
    assert repaired.trigger.market_id == 3
    assert [a.type for a in repaired.actions] == ["notify"]


def test_deleting_a_rule_cancels_its_pending_deliveries(rules: InMemoryRules, service: RulesService) -> None:
    user = rules.add_user("pro")
    rule = service.create(user, spec(actions=WEBHOOK))
    service.delete(user, rule.id)
    assert rules.state.cancelled_deliveries == [rule.id]
    with pytest.raises(NotFound):
        service.get(user, rule.id)


# Pagination: newest first, a cursor to the next page, none after the last.


def test_rules_are_paged_newest_first_with_a_cursor(rules: InMemoryRules, service: RulesService) -> None:
    user = rules.add_user("pro")
    ids = [service.create(user, spec(name=f"r{i}")).id for i in range(5)]
    first = service.list(user, limit=2)
    assert [r.id for r in first.items] == ids[::-1][:2]
    second = service.list(user, cursor=first.next_cursor, limit=2)
    assert [r.id for r in second.items] == ids[::-1][2:4]
    last = service.list(user, cursor=second.next_cursor, limit=2)
    assert ([r.id for r in last.items], last.next_cursor) == ([ids[0]], None)
    assert service.list(user, limit=5).next_cursor is None


def test_executions_and_unread_notifications_are_paged(rules: InMemoryRules, service: RulesService) -> None:
    user = rules.add_user()
    rule = service.create(user, spec())
    executions = [rules.add_execution(rule.id) for _ in range(3)]
    page = service.executions(user, rule.id, limit=2)
    assert ([e.id for e in page.items], page.next_cursor) == (executions[:0:-1], str(executions[1]))
    rest = service.executions(user, rule.id, cursor=page.next_cursor, limit=2)
    assert ([e.id for e in rest.items], rest.next_cursor) == ([executions[0]], None)
    read, unread = rules.add_notification(user, read=True), rules.add_notification(user)
    assert [n.id for n in service.notifications(user, unread_only=True).items] == [unread]
    assert [n.id for n in service.notifications(user).items] == [unread, read]


@pytest.mark.parametrize("cursor", ["abc", "-1", "0x10", str(2**63)])
def test_a_cursor_that_is_not_an_id_is_422(rules: InMemoryRules, service: RulesService, cursor: str) -> None:
    user = rules.add_user()
    with pytest.raises(InvalidInput) as refused:
        service.list(user, cursor=cursor)
    assert refused.value.to_problem()["errors"][0]["field"] == "cursor"
