"""Topics, the boto3 management-API adapter (botocore Stubber), and webhook signatures."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from tidewatch.errors import Forbidden, InvalidInput
from tidewatch.live.aws_push import ApiGatewayPoster
from tidewatch.live.broadcaster import Broadcaster, ConnectionGone
from tidewatch.live.repository import Recipient
from tidewatch.live.topics import authorize, parse_topic
from tidewatch.rules.webhooks import sign, verify

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"


class Owners:
    def owner_of(self, portfolio_id: int) -> int | None:
        return {5: 1}.get(portfolio_id)


def test_topics_parse_and_portfolio_topics_are_owner_only() -> None:
    assert parse_topic("market:12").ref == 12
    assert parse_topic("notifications").kind == "notifications"
    for bad in ("market:", "market:0", "portfolio:x", "notifications:2", "*"):
        with pytest.raises(InvalidInput):
            parse_topic(bad)
    authorize(parse_topic("portfolio:5"), 1, Owners())
    with pytest.raises(Forbidden):
        authorize(parse_topic("portfolio:5"), 2, Owners())
    with pytest.raises(Forbidden):
        authorize(parse_topic("portfolio:6"), 1, Owners())


def test_boto3_adapter_posts_and_maps_gone() -> None:
    # Given the adapter's client for the endpoint, stubbed: one success, then a 410 GoneException
    poster = ApiGatewayPoster(region="us-east-1")
    client = poster._client(ENDPOINT)
    with Stubber(client) as stub:
        stub.add_response("post_to_connection", {}, {"ConnectionId": "c-1", "Data": b'{"a":1}'})
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        # When posting twice
        poster(ENDPOINT, "c-1", b'{"a":1}')
        # Then the second raises ConnectionGone (the broadcaster deletes the connection)
        with pytest.raises(ConnectionGone):
            poster(ENDPOINT, "c-2", b"{}")
        stub.assert_no_pending_responses()


def test_private_delivery_never_reaches_another_users_connection() -> None:
    sent: list[str] = []
    broadcaster = Broadcaster(None, lambda endpoint, cid, data: sent.append(cid), max_workers=2)
    recipients = [Recipient("mine", 1, ENDPOINT), Recipient("theirs", 2, ENDPOINT)]
    # Even if a caller hands over a wrong recipient list, only user 1's connection gets user 1's data
    assert broadcaster.deliver(recipients, {"type": "notification"}, only_user=1).delivered == 1
    assert sent == ["mine"]


def test_webhook_signature_round_trip_and_tampering() -> None:
    body = b'{"event":"rule.fired","rule_id":1}'
    header = sign("whsec_abc", body, 1_800_000_000)
    assert verify("whsec_abc", header, body, now=1_800_000_010)
    assert not verify("whsec_abc", header, body + b" ", now=1_800_000_010)  # body changed
    assert not verify("whsec_xyz", header, body, now=1_800_000_010)  # wrong secret
    assert not verify("whsec_abc", header, body, now=1_800_000_400)  # replayed too late
    assert not verify("whsec_abc", "garbage", body, now=1_800_000_010)
