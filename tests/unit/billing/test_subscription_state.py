"""Subscription state derivation: the final state is the same whatever order events arrive in."""

from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from tidewatch.billing.plans import Plan
from tidewatch.billing.stripe_objects import SubscriptionObject
from tidewatch.billing.subscription_state import (
    SubscriptionState,
    apply_payment,
    apply_subscription_snapshot,
    effective_plan,
)
from tidewatch_local.stripe_events import subscription

T0 = 1_795_960_800
GRACE = timedelta(days=7)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def snap(sub_id: str, status: str, *, created: int = T0, **kw: object) -> SubscriptionObject:
    return SubscriptionObject.model_validate(
        subscription(sub_id=sub_id, customer="cus_1", status=status, created=created, user_id=1, **kw)  # type: ignore[arg-type]
    )


Fact = tuple[str, object, int]  # ("sub", SubscriptionObject, event time) or ("paid"/"failed", sub id, time)


def replay(facts: list[Fact]) -> SubscriptionState:
    state = SubscriptionState(user_id=1)
    for kind, payload, when in facts:
        if kind == "sub":
            assert isinstance(payload, SubscriptionObject)
            new = apply_subscription_snapshot(state, payload, event_at=at(when), grace=GRACE)
        else:
            assert isinstance(payload, str)
            new = apply_payment(state, subscription_id=payload, paid=kind == "paid", event_at=at(when), grace=GRACE)
        state = new or state
    return state


def all_orders(facts: list[Fact]) -> list[SubscriptionState]:
    return [replay(list(order)) for order in permutations(facts)]


def test_created_updated_deleted_in_any_order_ends_free_and_canceled() -> None:
    # Given a subscription created (incomplete), made active, then deleted
    facts: list[Fact] = [
        ("sub", snap("sub_1", "incomplete"), T0),
        ("sub", snap("sub_1", "active"), T0 + 5),
        ("sub", snap("sub_1", "canceled", canceled_at=T0 + 100), T0 + 100),
    ]
    # When the three events arrive in each of the six orders
    finals = all_orders(facts)
    # Then every order ends canceled, on the free plan
    assert {(s.status, s.plan_at(at(T0 + 200))) for s in finals} == {("canceled", Plan.FREE)}


def test_created_then_activated_in_the_same_second_ends_pro_in_either_order() -> None:
    # Given created (incomplete) and updated (active) stamped in the same second
    facts: list[Fact] = [("sub", snap("sub_1", "incomplete"), T0), ("sub", snap("sub_1", "active"), T0)]
    # Then the status further along the lifecycle wins in both orders
    assert {(s.status, s.plan_at(at(T0 + 1))) for s in all_orders(facts)} == {("active", Plan.PRO)}


def test_a_late_delete_of_an_old_subscription_does_not_downgrade_the_new_one() -> None:
    # Given sub_1 cancelled and a newer sub_2 bought afterwards
    facts: list[Fact] = [
        ("sub", snap("sub_1", "active", created=T0), T0),
        ("sub", snap("sub_1", "canceled", created=T0, canceled_at=T0 + 50), T0 + 50),
        ("sub", snap("sub_2", "active", created=T0 + 60), T0 + 60),
    ]
    # When they arrive in any order
    finals = all_orders(facts)
    # Then the user always ends on sub_2, Pro
    assert {(s.stripe_subscription_id, s.status, s.plan_at(at(T0 + 70))) for s in finals} == {
        ("sub_2", "active", Plan.PRO)
    }


def test_renewal_period_end_follows_the_newest_snapshot() -> None:
    first = snap("sub_1", "active", period_start=T0)
    renewed = snap("sub_1", "active", period_start=T0 + 2_592_000)
    finals = all_orders([("sub", first, T0), ("sub", renewed, T0 + 2_592_000)])
    assert {s.current_period_end for s in finals} == {at(T0 + 2 * 2_592_000)}


def test_a_failed_payment_keeps_pro_for_the_grace_period_then_ends_it() -> None:
    # Given an active subscription whose renewal payment failed and which went past_due
    facts: list[Fact] = [
        ("sub", snap("sub_1", "active"), T0),
        ("failed", "sub_1", T0 + 1000),
        ("sub", snap("sub_1", "past_due"), T0 + 1000),
    ]
    for state in all_orders(facts):
        # Then in any order the grace runs from the failure
        assert state.status == "past_due"
        assert state.grace_until == at(T0 + 1000) + GRACE
        # And Pro holds inside the grace period and ends at its end
        assert state.plan_at(at(T0 + 1000) + GRACE - timedelta(seconds=1)) == Plan.PRO
        assert state.plan_at(at(T0 + 1000) + GRACE) == Plan.FREE


def test_a_payment_after_a_failure_restores_pro_in_any_order() -> None:
    # Given failure, past_due, then the retry paid and the subscription is active again
    facts: list[Fact] = [
        ("sub", snap("sub_1", "active"), T0),
        ("failed", "sub_1", T0 + 1000),
        ("sub", snap("sub_1", "past_due"), T0 + 1000),
        ("paid", "sub_1", T0 + 5000),
        ("sub", snap("sub_1", "active"), T0 + 5000),
    ]
    finals = all_orders(facts)
    # Then every order ends active with no grace clock left running, well after the grace period
    assert {(s.status, s.grace_until, s.plan_at(at(T0) + 3 * GRACE)) for s in finals} == {("active", None, Plan.PRO)}


def test_an_invoice_paid_before_the_active_snapshot_keeps_pro() -> None:
    # Given the user is past_due and the paid invoice arrives before the subscription update
    state = replay([("sub", snap("sub_1", "past_due"), T0), ("paid", "sub_1", T0 + 10)])
    # Then the user is Pro straight away (no downgrade/upgrade flap)
    assert (state.status, state.plan_at(at(T0) + 2 * GRACE)) == ("active", Plan.PRO)


def test_payments_of_another_subscription_are_ignored() -> None:
    state = replay([("sub", snap("sub_2", "active"), T0)])
    assert apply_payment(state, subscription_id="sub_1", paid=False, event_at=at(T0 + 1), grace=GRACE) is None
    assert apply_payment(state, subscription_id=None, paid=False, event_at=at(T0 + 1), grace=GRACE) is None


@pytest.mark.parametrize(
    ("status", "grace_offset", "plan"),
    [
        ("active", None, Plan.PRO),
        ("trialing", None, Plan.PRO),
        ("past_due", 10, Plan.PRO),
        ("past_due", -10, Plan.FREE),
        ("past_due", None, Plan.FREE),
        ("unpaid", 10, Plan.PRO),
        ("active", -10, Plan.FREE),
        ("incomplete", None, Plan.FREE),
        ("incomplete_expired", None, Plan.FREE),
        ("canceled", None, Plan.FREE),
        ("paused", None, Plan.FREE),
        (None, None, Plan.FREE),
    ],
)
def test_effective_plan(status: str | None, grace_offset: int | None, plan: Plan) -> None:
    now = at(T0)
    grace_until = None if grace_offset is None else now + timedelta(seconds=grace_offset)
    assert effective_plan(status, grace_until, now) == plan
