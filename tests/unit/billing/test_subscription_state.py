"""The pure derivation: plan from the SET of subscriptions read, grace start from payment facts."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from tidewatch.billing.plans import Plan
from tidewatch.billing.stripe_objects import SubscriptionObject
from tidewatch.billing.subscription_state import (
    PaymentFact,
    StoredSubscription,
    derive,
    grace_start,
    read_subscription,
    with_grace,
)
from tidewatch_local.stripe_events import subscription

T0 = 1_795_960_800
GRACE = timedelta(days=7)
PRO = frozenset({"price_tidewatch_pro_monthly"})


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def stored(
    sub_id: str, status: str, *, created: int = T0, prices: frozenset[str] = PRO, **kw: object
) -> StoredSubscription:
    obj = SubscriptionObject.model_validate(
        subscription(sub_id=sub_id, customer="cus_1", status=status, created=created, user_id=1, **kw)  # type: ignore[arg-type]
    )
    return read_subscription(obj, pro_price_ids=prices, read_at=at(T0 + 10_000))


def test_grace_starts_at_the_first_failure_after_the_last_good_standing_in_any_order() -> None:
    # Given: paid, failed, recovered, then failed twice in a new delinquency
    facts = [
        PaymentFact(True, at(T0)),
        PaymentFact(False, at(T0 + 100)),
        PaymentFact(True, at(T0 + 200)),
        PaymentFact(False, at(T0 + 400)),
        PaymentFact(False, at(T0 + 300)),
    ]
    # Then every order of the facts gives the start of the second delinquency
    assert {grace_start(order) for order in permutations(facts)} == {at(T0 + 300)}


def test_a_failure_in_the_same_second_as_the_last_good_standing_counts() -> None:
    assert grace_start([PaymentFact(True, at(T0)), PaymentFact(False, at(T0))]) == at(T0)
    assert grace_start([PaymentFact(True, at(T0 + 1)), PaymentFact(False, at(T0))]) is None


def test_with_grace_uses_the_facts_and_clears_when_in_good_standing() -> None:
    past_due = stored("sub_1", "past_due")
    facts = [PaymentFact(False, at(T0 + 50))]
    assert with_grace(past_due, facts, grace=GRACE, previous=None).grace_until == at(T0 + 50) + GRACE
    # Before any fact arrived, the grace runs from the read that saw the delinquency
    assert with_grace(past_due, [], grace=GRACE, previous=None).grace_until == past_due.read_at + GRACE
    active = stored("sub_1", "active")
    assert with_grace(active, facts, grace=GRACE, previous=past_due).grace_until is None


def test_two_subscriptions_one_cancelled_one_paid_keeps_pro() -> None:
    subs = [stored("sub_a", "canceled", created=T0), stored("sub_b", "active", created=T0 + 5)]
    standing = derive(subs, now=at(T0 + 100))
    assert standing.plan == Plan.PRO
    assert standing.primary is not None
    assert standing.primary.subscription_id == "sub_b"


def test_a_subscription_with_an_unconfigured_price_grants_nothing() -> None:
    other = stored("sub_x", "active", prices=frozenset({"price_something_else"}))
    assert not other.entitled
    assert derive([other], now=at(T0)).plan == Plan.FREE


def test_a_cancelling_subscription_shows_its_end_not_a_renewal() -> None:
    cancelling = stored("sub_1", "active", cancel_at_period_end=True)
    assert cancelling.ends_at == cancelling.current_period_end
    explicit = replace(stored("sub_1", "active"), cancel_at=at(T0 + 999))
    assert explicit.ends_at == at(T0 + 999)


@pytest.mark.parametrize(
    ("status", "grace_offset", "plan"),
    [
        ("active", None, Plan.PRO),
        ("trialing", None, Plan.PRO),
        ("past_due", 10, Plan.PRO),
        ("past_due", -10, Plan.FREE),
        ("past_due", None, Plan.FREE),
        ("unpaid", 10, Plan.PRO),
        ("incomplete", None, Plan.FREE),
        ("incomplete_expired", None, Plan.FREE),
        ("canceled", None, Plan.FREE),
        ("paused", None, Plan.FREE),
    ],
)
def test_plan_of_one_subscription(status: str, grace_offset: int | None, plan: Plan) -> None:
    now = at(T0)
    grace_until = None if grace_offset is None else now + timedelta(seconds=grace_offset)
    sub = replace(stored("sub_1", status), grace_until=grace_until)
    assert derive([sub], now=now).plan == plan


def test_no_subscription_is_free() -> None:
    assert derive([], now=at(T0)).plan == Plan.FREE
