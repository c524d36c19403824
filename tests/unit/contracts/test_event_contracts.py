"""Event contracts: what each producer emits parses as what its consumer reads.

Every message that crosses a function boundary is checked here without a network: the "market
changed" event (EventBridge in AWS, Redis pub/sub through the local event bus), the rule shard and
alert delivery messages (SQS), the rules function's prepare request to the wallet function, the
schedules of template.yaml, and the sample events in events/ (each parses as its function's event
type). The AWS clients are small recorders of the calls the producers make.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from alerts.events import SqsEvent
from alerts.handler import AlertsEvent
from ingest.handler import IngestEvent
from ingest.publishers import EventBridgePublisher
from migrations.logic import MigrateRequest
from risk.handler import RiskEvent
from rules.handler import RulesEvent
from tidewatch.alerts.outbox import SqsDeliveryQueue
from tidewatch.events import (
    MARKET_CHANGED_CHANNEL,
    AlertDeliveryMessage,
    MarketChanged,
    MarketChangedEvent,
    ScheduledEvent,
)
from tidewatch.intents import MoveSupply, RepayToHealthFactor
from tidewatch.live.broadcaster import Broadcaster, Recipient
from tidewatch.live.fanout import LambdaChunkFanOut, PushChunk
from tidewatch.live.pushes import LivePush, MarketPush, PortfolioPush, TransactionStatusPush
from tidewatch.live.transaction_status import TransactionStatusPusher
from tidewatch.marketfeed import RedisPublisher
from tidewatch.rules.shard_dispatch import SqsShardDispatcher
from tidewatch.rules.sharding import ALL_RULES, ShardMessage
from tidewatch.transactions import models as wallet
from tidewatch_local.eventbus import envelope
from tidewatch_local.template import REPO_ROOT, read_template
from wallet.logic import WalletEvent

EVENTS = REPO_ROOT / "events"
AT = datetime(2026, 11, 24, 12, 0, 11, tzinfo=UTC)

# What each function's handler parses its event as (the SQS-only shard handler reads records).
CONSUMERS: dict[str, TypeAdapter[Any]] = {
    "ingest": TypeAdapter(IngestEvent),
    "rules": TypeAdapter(RulesEvent),
    "risk": TypeAdapter(RiskEvent),
    "wallet": TypeAdapter(WalletEvent),
    "alerts": TypeAdapter(AlertsEvent),
    "migrations": TypeAdapter(MigrateRequest),
}


class RecordingEventBridge:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i, _ in enumerate(Entries)]}


class RecordingSqs:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


class RecordingRedis:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish(self, channel: str, data: str) -> int:
        self.published.append((channel, data))
        return 1


class OneConnection:
    """A connection store with one connection of user 1, subscribed to everything."""

    recipient = Recipient(connection_id="c1", user_id=1, endpoint="https://ws.example/prod")

    def subscribers(self, topics: list[str]) -> list[Recipient]:
        return [self.recipient]

    def user_subscribers(self, user_id: int, topic: str) -> list[Recipient]:
        return [self.recipient] if user_id == 1 else []

    def remove(self, connection_ids: list[str]) -> int:
        return 0


def pushed_to_one_connection(send: Any) -> Any:
    """Run `send(broadcaster)` and parse what reached the connection as the dashboard would."""
    posted: list[bytes] = []
    broadcaster = Broadcaster(OneConnection(), lambda _endpoint, _id, data: posted.append(data))  # type: ignore[arg-type]
    try:
        send(broadcaster)
    finally:
        broadcaster.close()
    assert len(posted) == 1
    return TypeAdapter(LivePush).validate_json(posted[0])


def market_changed() -> MarketChanged:
    """A "market changed" event as ingest builds it from a snapshot (Decimals, exact ints)."""
    return MarketChanged(
        market_id=7,
        chain_id=1,
        protocol="aave-v3",
        market_key="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        asset_symbol="USDC",
        block_number=21_250_000,
        observed_at=AT,
        supply_apy=Decimal("0.051234567890123456"),
        borrow_apy=Decimal("0.0634"),
        utilization=Decimal("0.82"),
        price_usd=Decimal("0.99995"),
        total_supplied=2**70 + 1,
        total_borrowed=419_840_000_000_000,
        previous={"supply_apy": "0.0498", "borrow_apy": "0.0621"},
    )


def eventbridge_delivery(entry: dict[str, Any]) -> dict[str, Any]:
    """What EventBridge hands a rule's Lambda target for a PutEvents entry."""
    return {
        "version": "0",
        "id": "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-11-24T12:00:12Z",
        "region": "us-east-1",
        "resources": entry["Resources"],
        "detail": json.loads(entry["Detail"]),
    }


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    records = [
        {"messageId": str(i), "receiptHandle": "r", "body": body, "attributes": {}, "eventSource": "aws:sqs"}
        for i, body in enumerate(bodies)
    ]
    return {"Records": records}


def test_market_changed_from_ingest_on_eventbridge_parses_as_the_rules_event() -> None:
    # Given ingest's EventBridge publisher and one changed market
    bus = RecordingEventBridge()
    sent = market_changed()

    # When it publishes and EventBridge delivers the entry to the rules function
    EventBridgePublisher("tidewatch-test", client=bus).publish([sent])
    received = CONSUMERS["rules"].validate_python(eventbridge_delivery(bus.entries[0]))

    # Then the rules function reads the same event, exactly (Decimals and big ints included)
    assert isinstance(received, MarketChangedEvent)
    assert received.detail == sent


def test_the_template_routes_what_ingest_publishes_to_the_rules_function() -> None:
    bus = RecordingEventBridge()
    EventBridgePublisher("tidewatch-test", client=bus).publish([market_changed()])
    delivered = eventbridge_delivery(bus.entries[0])

    routed = [rule.function for rule in read_template().event_rules if rule.matches(delivered)]

    assert routed == ["RulesFunction"]


def test_market_changed_through_the_local_event_bus_parses_as_the_rules_event() -> None:
    # Given ingest's local publisher (Redis pub/sub) and the local event bus's envelope
    redis = RecordingRedis()
    sent = market_changed()

    # When it publishes and the bus wraps the message as EventBridge would
    RedisPublisher(redis).publish([sent])  # type: ignore[arg-type]
    channel, data = redis.published[0]
    received = CONSUMERS["rules"].validate_python(envelope("tidewatch.ingest", "market.changed", json.loads(data)))

    # Then it is on the channel the bus listens to and reads as the same event
    assert channel == MARKET_CHANGED_CHANNEL
    assert isinstance(received, MarketChangedEvent)
    assert received.detail == sent


def test_the_live_market_update_carries_rates_as_json_numbers() -> None:
    update = market_changed().live_update()

    assert update == {
        "market_id": 7,
        "chain_id": 1,
        "block_number": 21_250_000,
        "observed_at": "2026-11-24T12:00:11Z",
        "protocol": "aave-v3",
        "market_key": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        "asset_symbol": "USDC",
        "supply_apy": 0.051234567890123456,
        "borrow_apy": 0.0634,
        "utilization": 0.82,
        "price_usd": 0.99995,
    }
    bare = MarketChanged.model_validate({**market_changed().model_dump(), "supply_apy": None, "price_usd": None})
    assert set(bare.live_update()) == set(update) - {"supply_apy", "price_usd"}


def test_the_market_push_parses_as_a_live_market_message() -> None:
    sent = market_changed()

    received = pushed_to_one_connection(lambda b: b.publish_market(sent.market_id, sent.live_update()))

    assert received == MarketPush(market_id=7, data=sent.live_update())


def test_portfolio_and_transaction_status_pushes_parse_as_live_messages() -> None:
    record = SimpleNamespace(id="t-1", status="confirmed", chain_id=1, summary="Supply 1 USDC", tx_hash="0x" + "a" * 64)

    portfolio = pushed_to_one_connection(lambda b: b.publish_portfolio(5, 1, {"net_worth_usd": "10.5"}))
    status = pushed_to_one_connection(lambda b: TransactionStatusPusher(b).transaction_changed(1, record))

    assert portfolio == PortfolioPush(portfolio_id=5, data={"net_worth_usd": "10.5"})
    assert status == TransactionStatusPush(
        transaction_id="t-1", status="confirmed", chain_id=1, summary="Supply 1 USDC", tx_hash="0x" + "a" * 64
    )


class RecordingLambda:
    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.invocations.append(call)
        return {"StatusCode": 202}


def test_a_broadcast_past_one_chunk_hands_off_what_the_websocket_function_reads() -> None:
    # Given a broadcaster whose chunks of one connection go to asynchronous invokes
    recipients = [Recipient(connection_id=f"c{i}", user_id=1, endpoint="https://ws.example/prod") for i in range(3)]
    invokes = RecordingLambda()
    posted: list[bytes] = []
    broadcaster = Broadcaster(
        None, lambda _e, _c, data: posted.append(data), fan_out=LambdaChunkFanOut("ws", client=invokes), chunk_size=1
    )

    # When it pushes one market update to three connections
    report = broadcaster.deliver(recipients, {"type": "market", "market_id": 7, "data": {}})
    broadcaster.close()

    # Then each invoke's payload is a `live.push` event naming one connection and the same message
    chunks = [PushChunk.model_validate_json(call["Payload"]) for call in invokes.invocations]
    assert report.handed_off == 2
    assert [c.recipients() for c in chunks] == [[recipients[1]], [recipients[2]]]
    assert {c.data.encode() for c in chunks} == set(posted)
    assert all(call["InvocationType"] == "Event" for call in invokes.invocations)


def test_rule_shard_messages_on_sqs_parse_as_what_the_shard_handler_reads() -> None:
    # Given the coordinator's SQS dispatcher and two shard messages
    sqs = RecordingSqs()
    sent = [
        ShardMessage(tick_id="t1", trigger="schedule", at=AT, shard=ALL_RULES, expected_rules=3),
        ShardMessage(
            tick_id="t2", trigger="market_changed", at=AT, shard=ALL_RULES, changed_markets=(7,), markets_key="k"
        ),
    ]

    # When it dispatches them
    SqsShardDispatcher("https://sqs.example/rule-shards", client=sqs).dispatch(sent)

    # Then each SQS record's body reads back as the same message
    event = SqsEvent.model_validate(sqs_event([e["MessageBody"] for e in sqs.entries]))
    assert [ShardMessage.model_validate_json(r.body) for r in event.records] == sent


def test_alert_deliveries_on_sqs_parse_as_what_the_alerts_function_reads() -> None:
    # Given the delivery queue the rules function writes to
    sqs = RecordingSqs()

    # When it queues three deliveries
    SqsDeliveryQueue(sqs, "https://sqs.example/alerts").submit([4, 5, 6], delay_seconds=30)

    # Then the alerts function's event and message models read the same delivery ids
    event = CONSUMERS["alerts"].validate_python(sqs_event([e["MessageBody"] for e in sqs.entries]))
    assert isinstance(event, SqsEvent)
    assert [AlertDeliveryMessage.model_validate_json(r.body).delivery_id for r in event.records] == [4, 5, 6]
    assert {e["DelaySeconds"] for e in sqs.entries} == {30}


@pytest.mark.parametrize(
    "intent",
    [
        RepayToHealthFactor(kind="repay_to_health_factor", market_id=3, target_health_factor=Decimal("1.25")),
        MoveSupply(kind="move_supply", from_market_id=3, to_market_id=4, fraction=Decimal("0.5"), speed="fast"),
    ],
)
def test_the_rules_prepare_request_parses_as_the_wallet_prepare_request(intent: BaseModel) -> None:
    # Given a rule's prepare-transaction action as the rules function sends it (JSON, like the invoke)
    sent = wallet.PrepareRequest(
        user_id=1,
        portfolio_id=2,
        rule_id=3,
        intent=intent,
        idempotency_key="rule:3:2026-11-24T12:00",  # type: ignore[arg-type]
    )
    payload = json.loads(json.dumps(sent.model_dump(mode="json")))

    # When the wallet function reads it
    received = CONSUMERS["wallet"].validate_python({"action": "prepare", **payload})

    # Then it is the wallet's prepare request with the very same intent
    assert isinstance(received, wallet.PrepareRequest)
    assert received.intent == intent
    assert (received.user_id, received.portfolio_id, received.rule_id) == (1, 2, 3)
    assert received.idempotency_key == sent.idempotency_key


def test_a_rule_intent_is_written_as_json_numbers_and_read_back_exactly() -> None:
    intent = RepayToHealthFactor(kind="repay_to_health_factor", market_id=3, target_health_factor=Decimal("1.25"))

    dumped = intent.model_dump(mode="json")

    assert dumped["target_health_factor"] == 1.25
    assert RepayToHealthFactor.model_validate(dumped) == intent
    assert RepayToHealthFactor.model_validate({**dumped, "target_health_factor": "1.25"}) == intent


def test_every_schedule_of_the_template_parses_as_its_function_event() -> None:
    # Given the template's schedules (EventBridge sends the `Input` when set, else a Scheduled Event)
    schedules = read_template().schedules
    assert schedules

    for schedule in schedules:
        function = read_template().function(schedule.function).short_name
        payload = schedule.input or {
            "version": "0",
            "id": "6f1c3a52-3d7e-4a0e-9d3b-1b2c3d4e5f60",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-24T12:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{schedule.name}"],
            "detail": {},
        }

        # When its function reads it; Then it parses (a Scheduled Event as the schedule branch)
        parsed = CONSUMERS[function].validate_python(payload)
        assert isinstance(parsed, ScheduledEvent) is (schedule.input is None), schedule.name


def _samples(function: str) -> list[Path]:
    return sorted((EVENTS / function).glob("*.json"))


@pytest.mark.parametrize("function", sorted(CONSUMERS))
def test_sample_events_parse_as_their_function_event(function: str) -> None:
    samples = _samples(function)
    assert samples, f"no samples in events/{function}"
    for path in samples:
        CONSUMERS[function].validate_python(json.loads(path.read_text()))


def test_sample_shard_messages_parse_as_what_the_shard_handler_reads() -> None:
    for path in _samples("rulesshard"):
        event = SqsEvent.model_validate(json.loads(path.read_text()))
        assert all(ShardMessage.model_validate_json(r.body).kind == "rules.shard" for r in event.records)


def test_the_sample_market_changed_event_is_what_ingest_emits() -> None:
    # Given the sample "market changed" event of events/rules
    sample = json.loads((EVENTS / "rules" / "market-changed.json").read_text())

    # When the rules function reads it
    event = CONSUMERS["rules"].validate_python(sample)

    # Then it is ingest's event: dumping it again gives the sample's detail
    assert isinstance(event, MarketChangedEvent)
    assert event.detail.model_dump(mode="json") == sample["detail"]
