"""The committed API Gateway event is a genuinely signed webhook; replayed later, it is refused.

`events/api/stripe-webhook-rejected.json` was signed at a fixed time with the local test secret, so
any invocation more than the tolerance after that is (rightly) a 400 replay: the sample of a refusal.
At its signing time (an injected clock) the same bytes are accepted and applied once.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum

from api.deps.billing import billing_deps_from
from tests.fakes.stripe import StripeStub
from tidewatch.db import Database
from tidewatch_local.stripe_events import LOCAL_WEBHOOK_SECRET

from ..api.lambda_events import FakeLambdaContext
from .conftest import ManualClock, api_deps, billing_settings, build_app, create_user

pytestmark = pytest.mark.integration

EVENT = Path(__file__).resolve().parents[3] / "events" / "api" / "stripe-webhook-rejected.json"


def _signed_at(event: dict[str, Any]) -> int:
    return int(event["headers"]["stripe-signature"].split(",")[0].removeprefix("t="))


def test_the_sample_event_verifies_with_the_local_secret() -> None:
    import stripe

    event = json.loads(EVENT.read_text())
    assert stripe.WebhookSignature.verify_header(
        event["body"], event["headers"]["stripe-signature"], LOCAL_WEBHOOK_SECRET
    )


def test_the_sample_event_through_mangum_makes_user_1_pro(
    db: Database, redis_client: Any, stripe_stub: StripeStub
) -> None:
    # Given user 1, Stripe holding the sample's subscription, and the api app when the sample was signed
    assert create_user(db) == 1
    event = json.loads(EVENT.read_text())
    stripe_stub.put(json.loads(event["body"])["data"]["object"])
    clock = ManualClock(_signed_at(event) + 2)
    app = build_app(api_deps(db, redis_client, clock), billing_deps_from(billing_settings()))
    handler = Mangum(app, lifespan="off")
    # When API Gateway delivers it through the Lambda entry point
    response = handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    # Then it is applied once; the same event again is a duplicate
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["outcome"] == "applied"
    again = handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert json.loads(again["body"])["outcome"] == "duplicate"
    with db.connection() as conn:
        assert conn.execute("SELECT plan FROM users WHERE id = 1").fetchone() == {"plan": "pro"}
    # And an hour later the very same bytes are refused as a replay
    clock.advance(3600)
    stale = handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert stale["statusCode"] == 400
