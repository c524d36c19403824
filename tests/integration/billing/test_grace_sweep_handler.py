"""The scheduled grace sweep through its Lambda entry point."""

import json
from pathlib import Path
from typing import Any

import pytest

from api import billing_grace
from tidewatch.db import Database
from tidewatch_local.stripe_events import invoice, subscription

from ..api.lambda_events import FakeLambdaContext
from .conftest import T0, Harness

pytestmark = pytest.mark.integration

SCHEDULED = Path(__file__).resolve().parents[3] / "events" / "rules" / "scheduled.json"


def scheduled_at(iso: str) -> dict[str, Any]:
    event = json.loads(SCHEDULED.read_text())
    event["time"] = iso
    return event


def test_the_schedule_downgrades_users_whose_grace_ran_out(
    harness: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Pro user whose payment failed (grace until T0 - 50 + 7 days)
    sub = subscription(sub_id="sub_1", customer="cus_1", status="active", created=T0 - 9000, user_id=harness.user.id)
    harness.post_event("customer.subscription.created", sub, created=T0 - 9000)
    # (Stripe makes the subscription past_due as the renewal payment fails)
    harness.stripe.put({**sub, "status": "past_due"})
    failed = invoice(invoice_id="in_1", customer="cus_1", subscription_id="sub_1", status="open", created=T0 - 50)
    harness.post_event("invoice.payment_failed", failed, created=T0 - 50)
    monkeypatch.setattr(billing_grace.runtime, "database", lambda: db)
    # When the schedule fires during the grace period, and again after it
    during = billing_grace.lambda_handler(scheduled_at("2026-11-30T00:00:00Z"), FakeLambdaContext())  # type: ignore[arg-type]
    after = billing_grace.lambda_handler(scheduled_at("2026-12-31T00:00:00Z"), FakeLambdaContext())  # type: ignore[arg-type]
    # Then only the second downgrades the user
    assert during == {"ok": True, "result": {"downgraded_user_ids": []}}
    assert after == {"ok": True, "result": {"downgraded_user_ids": [harness.user.id]}}
    assert harness.one("SELECT plan FROM users WHERE id = %s", harness.user.id) == "free"


def test_a_bad_event_gets_an_error_envelope() -> None:
    result = billing_grace.lambda_handler({"hello": "world"}, FakeLambdaContext())  # type: ignore[arg-type]
    assert result["ok"] is False
    assert result["error"]["status"] == 422
