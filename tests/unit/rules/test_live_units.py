"""Topics, the boto3 management-API adapter (botocore Stubber), and webhook signatures."""

from __future__ import annotations

from collections.abc import Sequence

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


class PipelinedFake:
    """A pipelining poster: answers each post by the status its connection id names; 'boom-*' batches raise."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.removed: list[str] = []

    def __call__(self, endpoint: str, connection_id: str, data: bytes) -> None:
        raise AssertionError("a pipelining poster gets batches, not single posts")

    def post_many(self, endpoint: str, posts: Sequence[tuple[str, bytes]]) -> list[int]:
        ids = [cid for cid, _ in posts]
        self.batches.append((endpoint, ids))
        if any(cid.startswith("boom") for cid in ids):
            raise OSError("connection refused")
        return [int(cid.split("-")[0]) for cid in ids]

    def remove(self, connection_ids: Sequence[str]) -> int:  # the connection store's delete
        self.removed.extend(connection_ids)
        return len(connection_ids)


def test_a_pipelining_poster_gets_bounded_batches_per_endpoint_and_gone_ones_are_deleted() -> None:
    # Given 12 recipients on two endpoints: answered 200, 410 (gone), 500 and 0 (unanswered)
    fake = PipelinedFake()
    broadcaster = Broadcaster(fake, fake, max_workers=3)  # type: ignore[arg-type]
    statuses = ["200", "410", "500", "0", "200", "200", "200", "410", "200"]
    recipients = [Recipient(f"{s}-{i}", 1, ENDPOINT) for i, s in enumerate(statuses)]
    recipients += [Recipient(f"200-b{i}", 1, ENDPOINT + "-b") for i in range(3)]
    # When one message goes to all of them
    report = broadcaster.deliver(recipients, {"type": "market"})
    # Then each endpoint's recipients went out in batches of at most ⌈12 / 3⌉, every one exactly once
    assert all(len(ids) <= 4 for _, ids in fake.batches)
    assert sorted(cid for _, ids in fake.batches for cid in ids) == sorted(r.connection_id for r in recipients)
    assert {endpoint for endpoint, ids in fake.batches if "200-b0" in ids} == {ENDPOINT + "-b"}
    # And 410 is gone (deleted), 500 and unanswered are failures, the rest delivered
    assert (report.delivered, report.gone, report.failed) == (8, 2, 2)
    assert sorted(fake.removed) == ["410-1", "410-7"]


def test_a_batch_that_fails_as_a_whole_fails_only_its_own_posts() -> None:
    fake = PipelinedFake()
    broadcaster = Broadcaster(fake, fake, max_workers=2)  # type: ignore[arg-type]
    recipients = [Recipient("boom-1", 1, ENDPOINT), Recipient("200-2", 1, ENDPOINT + "-b")]
    report = broadcaster.deliver(recipients, {"type": "market"})
    assert (report.delivered, report.gone, report.failed) == (1, 0, 1)
    assert fake.removed == []


def test_webhook_signature_round_trip_and_tampering() -> None:
    body = b'{"event":"rule.fired","rule_id":1}'
    header = sign("whsec_abc", body, 1_800_000_000)
    assert verify("whsec_abc", header, body, now=1_800_000_010)
    assert not verify("whsec_abc", header, body + b" ", now=1_800_000_010)  # body changed
    assert not verify("whsec_xyz", header, body, now=1_800_000_010)  # wrong secret
    assert not verify("whsec_abc", header, body, now=1_800_000_400)  # replayed too late
    assert not verify("whsec_abc", "garbage", body, now=1_800_000_010)
