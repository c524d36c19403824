"""Property: for each billing flow, every order of its Stripe events (with redeliveries) ends the same.

Each flow is a script of what happens in Stripe, step by step: the subscription (or customer) as
Stripe holds it after the step, and the event Stripe sends for it, stamped with the step's time.
Two kinds of run:

* all of Stripe's steps happen first, then the events arrive in every permutation (each followed
  by a redelivery of the first event, which must be a duplicate);
* seeded random interleavings: Stripe advances step by step while pending events arrive in a
  random order, some twice, so a re-read can see any intermediate state.

The final state (plan, status shown, renewal / end, grace end, each subscription as stored) must
be the same in every run and equal to the flow's expectation. Events go through
`process_stripe_event` with the real `StripeGateway` reading a Stripe stand-in over HTTP
(`responses`), with bodies shaped like Stripe's objects.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes.stripe import API_BASE, StripeStub
from tidewatch.billing.refresh import BillingContext
from tidewatch.billing.stripe_gateway import StripeGateway
from tidewatch.billing.stripe_objects import StripeEvent
from tidewatch.billing.webhooks import Outcome, process_stripe_event
from tidewatch.db import Database
from tidewatch_local.stripe_events import checkout_session, event, invoice, subscription

from .conftest import T0, create_user

pytestmark = pytest.mark.integration

PRO = frozenset({"price_tidewatch_pro_monthly"})
GRACE = timedelta(days=7)
NOW = datetime.fromtimestamp(T0 + 3600, tz=UTC)  # every run judges the end state at the same moment
INTERLEAVINGS = 25


@dataclass
class Step:
    """One thing happening in Stripe: its new state (applied to the stand-in) and the event sent."""

    event: dict[str, Any]
    subscription: dict[str, Any] | None = None
    deleted_customer: str | None = None


@dataclass
class Flow:
    name: str
    steps: list[Step] = field(default_factory=list)


FlowMaker = Callable[[int, str], Flow]


def _ids(tag: str) -> tuple[str, str, str]:
    return f"cus_{tag}", f"sub_{tag}a", f"sub_{tag}b"


def _sub(tag: str, which: str, status: str, uid: int, *, created: int = T0, **kw: Any) -> dict[str, Any]:
    customer, a, b = _ids(tag)
    return subscription(
        sub_id=a if which == "a" else b, customer=customer, status=status, created=created, user_id=uid, **kw
    )


def _ev(tag: str, n: int, kind: str, obj: dict[str, Any], at: int) -> dict[str, Any]:
    return event(kind, obj, created=at, event_id=f"evt_{tag}_{n}")


def _checkout(tag: str, n: int, uid: int, which: str, at: int) -> Step:
    customer, a, b = _ids(tag)
    session = checkout_session(
        session_id=f"cs_{tag}{which}",
        customer=customer,
        subscription_id=a if which == "a" else b,
        user_id=uid,
        created=at,
    )
    return Step(_ev(tag, n, "checkout.session.completed", session, at))


def _snap(tag: str, n: int, kind: str, obj: dict[str, Any], at: int) -> Step:
    return Step(_ev(tag, n, kind, obj, at), subscription=obj)


def _invoice(tag: str, n: int, kind: str, which: str, at: int) -> Step:
    customer, a, b = _ids(tag)
    inv = invoice(
        invoice_id=f"in_{tag}{n}",
        customer=customer,
        subscription_id=a if which == "a" else b,
        status="paid" if kind == "invoice.paid" else "open",
        created=at,
    )
    return Step(_ev(tag, n, kind, inv, at))


def checkout_to_active(uid: int, tag: str) -> Flow:
    return Flow(
        "checkout→active",
        [
            _snap(tag, 1, "customer.subscription.created", _sub(tag, "a", "incomplete", uid), T0),
            _invoice(tag, 2, "invoice.paid", "a", T0 + 2),
            _snap(tag, 3, "customer.subscription.updated", _sub(tag, "a", "active", uid), T0 + 2),
            _checkout(tag, 4, uid, "a", T0 + 3),
        ],
    )


def payment_failed_then_recovered(uid: int, tag: str) -> Flow:
    return Flow(
        "payment failed→recovered",
        [
            _snap(tag, 1, "customer.subscription.created", _sub(tag, "a", "active", uid), T0),
            _invoice(tag, 2, "invoice.payment_failed", "a", T0 + 100),
            _snap(tag, 3, "customer.subscription.updated", _sub(tag, "a", "past_due", uid), T0 + 100),
            _invoice(tag, 4, "invoice.paid", "a", T0 + 500),
            _snap(tag, 5, "customer.subscription.updated", _sub(tag, "a", "active", uid), T0 + 500),
        ],
    )


def payment_failed(uid: int, tag: str) -> Flow:
    return Flow(
        "payment failed (in grace)",
        [
            _snap(tag, 1, "customer.subscription.created", _sub(tag, "a", "active", uid), T0),
            _snap(tag, 2, "customer.subscription.updated", _sub(tag, "a", "past_due", uid), T0 + 100),
            _invoice(tag, 3, "invoice.payment_failed", "a", T0 + 100),
            _invoice(tag, 4, "invoice.payment_failed", "a", T0 + 900),
        ],
    )


def cancel(uid: int, tag: str) -> Flow:
    return Flow(
        "cancel",
        [
            _snap(tag, 1, "customer.subscription.created", _sub(tag, "a", "active", uid), T0),
            _snap(
                tag,
                2,
                "customer.subscription.updated",
                _sub(tag, "a", "active", uid, cancel_at_period_end=True),
                T0 + 50,
            ),
            _snap(
                tag,
                3,
                "customer.subscription.deleted",
                _sub(tag, "a", "canceled", uid, cancel_at_period_end=True, canceled_at=T0 + 90),
                T0 + 90,
            ),
        ],
    )


def two_subscriptions(uid: int, tag: str) -> Flow:
    return Flow(
        "two subscriptions, one cancelled",
        [
            _snap(tag, 1, "customer.subscription.created", _sub(tag, "a", "active", uid, created=T0), T0),
            _checkout(tag, 2, uid, "a", T0 + 1),
            _snap(tag, 3, "customer.subscription.created", _sub(tag, "b", "active", uid, created=T0 + 5), T0 + 5),
            _checkout(tag, 4, uid, "b", T0 + 6),
            _snap(
                tag,
                5,
                "customer.subscription.deleted",
                _sub(tag, "a", "canceled", uid, created=T0, canceled_at=T0 + 60),
                T0 + 60,
            ),
        ],
    )


def deletion(uid: int, tag: str) -> Flow:
    customer, _, _ = _ids(tag)
    deleted = {"id": customer, "object": "customer", "deleted": True, "metadata": {"tidewatch_user_id": str(uid)}}
    return Flow(
        "customer deleted",
        [
            _checkout(tag, 1, uid, "a", T0),
            _snap(tag, 2, "customer.subscription.created", _sub(tag, "a", "active", uid), T0 + 1),
            Step(_ev(tag, 3, "customer.deleted", deleted, T0 + 200), deleted_customer=customer),
            Step(
                _ev(
                    tag,
                    4,
                    "customer.subscription.deleted",
                    _sub(tag, "a", "canceled", uid, canceled_at=T0 + 200),
                    T0 + 200,
                )
            ),
        ],
    )


# The state every run of a flow must end in.
EXPECTED: dict[str, dict[str, Any]] = {
    "checkout→active": {"plan": "pro", "status": "active", "linked": True, "grace_until": None},
    "payment failed→recovered": {"plan": "pro", "status": "active", "linked": True, "grace_until": None},
    "payment failed (in grace)": {
        "plan": "pro",
        "status": "past_due",
        "linked": True,
        "grace_until": datetime.fromtimestamp(T0 + 100, tz=UTC) + GRACE,
    },
    "cancel": {"plan": "free", "status": "canceled", "linked": True, "grace_until": None},
    "two subscriptions, one cancelled": {"plan": "pro", "status": "active", "linked": True, "grace_until": None},
    "customer deleted": {"plan": "free", "status": None, "linked": False, "grace_until": None, "subscriptions": []},
}

# "Payment failed" notices every run must have sent (where it is not a matter of timing).
NOTICES = {"payment failed (in grace)": 1, "checkout→active": 0, "cancel": 0}

FLOWS: list[FlowMaker] = [
    checkout_to_active,
    payment_failed_then_recovered,
    payment_failed,
    cancel,
    two_subscriptions,
    deletion,
]


@dataclass
class World:
    db: Database
    stub: StripeStub
    gateway: StripeGateway
    runs: Iterator[int] = field(default_factory=itertools.count)

    def new_run(self, maker: FlowMaker) -> tuple[int, str, Flow]:
        n = next(self.runs)
        uid = create_user(self.db, "0x" + f"{n + 1:040x}")
        tag = f"r{n}x"
        return uid, tag, maker(uid, tag)

    def happen(self, step: Step) -> None:
        if step.subscription is not None:
            self.stub.put(step.subscription)
        if step.deleted_customer is not None:
            self.stub.delete_customer(step.deleted_customer)

    def deliver(self, raw: dict[str, Any]) -> Outcome:
        ctx = BillingContext(reader=self.gateway, pro_price_ids=PRO, grace=GRACE, now=NOW)
        return process_stripe_event(self.db, StripeEvent.model_validate(raw), ctx).outcome

    def state(self, uid: int, tag: str) -> dict[str, Any]:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT u.plan, s.status, s.stripe_subscription_id, s.stripe_customer_id IS NOT NULL AS linked, "
                "s.current_period_end, s.cancel_at, COALESCE(s.cancel_at_period_end, false) AS cancel_at_period_end, s.grace_until "
                "FROM users u LEFT JOIN subscriptions s ON s.user_id = u.id WHERE u.id = %s",
                (uid,),
            ).fetchone()
            subs = conn.execute(
                "SELECT subscription_id, status, entitled, grace_until, current_period_end, cancel_at_period_end "
                "FROM stripe_subscriptions WHERE user_id = %s ORDER BY subscription_id",
                (uid,),
            ).fetchall()
        assert row is not None
        state = dict(row)
        state["stripe_subscription_id"] = (state["stripe_subscription_id"] or "").replace(tag, "")
        state["subscriptions"] = [{**s, "subscription_id": s["subscription_id"].replace(tag, "")} for s in subs]
        return state


@pytest.fixture
def world(db: Database, stripe_stub: StripeStub) -> World:
    return World(db, stripe_stub, StripeGateway("sk_test_tidewatch", api_base=API_BASE, max_network_retries=0))


def _check(world: World, uid: int, flow: Flow, state: dict[str, Any]) -> None:
    for key, value in EXPECTED[flow.name].items():
        assert state[key] == value, (flow.name, key, state)
    if flow.name in NOTICES:
        with world.db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM notifications WHERE user_id = %s AND kind = 'billing.payment_failed'", (uid,)
            ).fetchone()
        assert row is not None
        assert row["n"] == NOTICES[flow.name], flow.name


@pytest.mark.parametrize("maker", FLOWS, ids=lambda m: m.__name__)
def test_every_permutation_of_a_flow_ends_in_the_same_state(world: World, maker: FlowMaker) -> None:
    finals = []
    uid, tag, flow = world.new_run(maker)
    for order in itertools.permutations(range(len(flow.steps))):
        uid, tag, flow = world.new_run(maker)
        # Given everything happened in Stripe
        for step in flow.steps:
            world.happen(step)
        # When the events arrive in this order, then the first again (Stripe's redelivery)
        for i in order:
            assert world.deliver(flow.steps[i].event) != Outcome.DUPLICATE
        assert world.deliver(flow.steps[order[0]].event) == Outcome.DUPLICATE
        state = world.state(uid, tag)
        _check(world, uid, flow, state)
        finals.append(state)
    # Then every order ends in one and the same state
    assert [f for f in finals if f != finals[0]] == [], (
        flow.name,
        str(finals[0]),
        str([f for f in finals if f != finals[0]][:1]),
    )


@pytest.mark.parametrize("maker", FLOWS, ids=lambda m: m.__name__)
def test_random_interleavings_of_stripe_and_deliveries_end_in_the_same_state(world: World, maker: FlowMaker) -> None:
    rng = random.Random(f"tidewatch-billing-{maker.__name__}")
    finals = []
    for _ in range(INTERLEAVINGS):
        uid, tag, flow = world.new_run(maker)
        pending: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        next_step = 0
        # Stripe advances while events are in flight: a re-read may see any intermediate state
        while next_step < len(flow.steps) or pending:
            if next_step < len(flow.steps) and (not pending or rng.random() < 0.5):
                world.happen(flow.steps[next_step])
                pending.append(flow.steps[next_step].event)
                next_step += 1
                continue
            raw = pending.pop(rng.randrange(len(pending)))
            world.deliver(raw)
            delivered.append(raw)
            if rng.random() < 0.3:
                pending.append(raw)  # delivered again later
        state = world.state(uid, tag)
        _check(world, uid, flow, state)
        finals.append(state)
    assert [f for f in finals if f != finals[0]] == [], (maker.__name__, finals[0])
