"""Signature checks with payloads signed by the stripe library's own scheme."""

import json

import pytest

from tidewatch.billing.webhooks import InvalidWebhook, verify_stripe_webhook
from tidewatch_local.stripe_events import event, sign, subscription

SECRET = "whsec_unit_test_secret"
NOW = 1_795_960_800
TOLERANCE = 300


def _body() -> str:
    sub = subscription(sub_id="sub_A", customer="cus_A", status="active", created=NOW - 60, user_id=7)
    return json.dumps(event("customer.subscription.created", sub, created=NOW - 30, event_id="evt_A"))


def test_a_genuinely_signed_event_is_accepted_and_parsed() -> None:
    # Given a body signed by Stripe's scheme with our secret just now
    body = _body()
    header = sign(body, SECRET, timestamp=NOW - 2)
    # When it is verified
    parsed = verify_stripe_webhook(body.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW)
    # Then the event comes back parsed
    assert (parsed.id, parsed.type, parsed.created) == ("evt_A", "customer.subscription.created", NOW - 30)
    assert parsed.data.object["id"] == "sub_A"


def test_a_tampered_body_is_refused() -> None:
    # Given a signed body changed after signing (status flipped)
    body = _body()
    header = sign(body, SECRET, timestamp=NOW)
    tampered = body.replace('"active"', '"trialing"', 1)
    # Then verification fails
    with pytest.raises(InvalidWebhook, match="does not match"):
        verify_stripe_webhook(tampered.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW)


def test_a_body_signed_with_another_secret_is_refused() -> None:
    body = _body()
    header = sign(body, "whsec_someone_else", timestamp=NOW)
    with pytest.raises(InvalidWebhook, match="does not match"):
        verify_stripe_webhook(body.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW)


@pytest.mark.parametrize("skew", [-(TOLERANCE + 1), TOLERANCE + 1])
def test_a_timestamp_outside_the_tolerance_is_refused_in_both_directions(skew: int) -> None:
    # Given a correct signature made too long ago (a replay) or too far ahead
    body = _body()
    header = sign(body, SECRET, timestamp=NOW + skew)
    # Then it is refused as stale
    with pytest.raises(InvalidWebhook, match="tolerance"):
        verify_stripe_webhook(body.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW)


def test_the_edge_of_the_tolerance_is_accepted() -> None:
    body = _body()
    header = sign(body, SECRET, timestamp=NOW - TOLERANCE)
    assert verify_stripe_webhook(body.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW).id == "evt_A"


@pytest.mark.parametrize("header", [None, "", "garbage", "t=notanumber,v1=abc", f"t={NOW}", f"t={NOW},v0=abc"])
def test_missing_or_malformed_signature_headers_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidWebhook):
        verify_stripe_webhook(_body().encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW)


def test_a_rotated_secret_works_while_stripe_sends_both_signatures() -> None:
    # Given Stripe signing with the old and the new secret during a roll (two v1 entries)
    body = _body()
    old = sign(body, "whsec_old", timestamp=NOW)
    new = sign(body, SECRET, timestamp=NOW)
    header = old + "," + new.split(",", 1)[1]
    # Then the endpoint holding only the new secret accepts it
    assert verify_stripe_webhook(body.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW).id == "evt_A"


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    body = json.dumps({"hello": "world"})
    header = sign(body, SECRET, timestamp=NOW)
    with pytest.raises(InvalidWebhook, match="not a Stripe event"):
        verify_stripe_webhook(body.encode(), header, SECRET, tolerance_seconds=TOLERANCE, now=NOW)


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidWebhook):
        verify_stripe_webhook(b"\xff\xfe", f"t={NOW},v1=00", SECRET, tolerance_seconds=TOLERANCE, now=NOW)
