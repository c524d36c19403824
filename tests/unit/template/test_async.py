"""Asynchronous work never disappears: failed invocations and undeliverable events land in a queue."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from tidewatch.events import MARKET_CHANGED_DETAIL_TYPE, MARKET_CHANGED_SOURCE, MarketChangedEvent

ASYNC_EVENT_TYPES = {"Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent", "S3", "SNS"}
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}


def _refers_to(value: Any, logical_id: str) -> bool:
    """Whether an intrinsic (Ref / GetAtt / Sub string) names `logical_id`."""
    if isinstance(value, dict):
        if value.get("Ref") in (logical_id, f"{logical_id}.Alias", f"{logical_id}.Version"):
            return True
        attr = value.get("Fn::GetAtt")
        if isinstance(attr, list) and attr and attr[0] == logical_id:
            return True
        sub = value.get("Fn::Sub")
        if isinstance(sub, str):
            return f"${{{logical_id}" in sub
    return False


def asynchronously_invoked(resources: dict[str, Any]) -> set[str]:
    """Functions something invokes with InvocationType=Event: EventBridge, S3, SNS, CloudFormation."""
    found: set[str] = set()
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            events = resource["Properties"].get("Events", {})
            if any(e.get("Type") in ASYNC_EVENT_TYPES for e in events.values()):
                found.add(name)
    for resource in resources.values():
        props = resource.get("Properties", {})
        targets = [t["Arn"] for t in props.get("Targets", [])] if resource["Type"] == "AWS::Events::Rule" else []
        if resource["Type"] == "AWS::Scheduler::Schedule":
            targets = [props["Target"]["Arn"]]
        if resource["Type"].startswith("Custom::") or resource["Type"] == "AWS::CloudFormation::CustomResource":
            targets = [props["ServiceToken"]]
        for target in targets:
            found |= {fn for fn, r in resources.items() if r["Type"] in FUNCTION_TYPES and _refers_to(target, fn)}
    return found


def _has_failure_destination(name: str, resources: dict[str, Any]) -> bool:
    props = resources[name]["Properties"]
    if props.get("DeadLetterQueue") or props.get("DeadLetterConfig"):
        return True
    if props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure"):
        return True
    return any(
        r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and _refers_to(r["Properties"]["FunctionName"], name)
        and r["Properties"].get("DestinationConfig", {}).get("OnFailure")
        for r in resources.values()
    )


def test_the_scheduled_and_deploy_time_functions_are_found(resources: dict[str, Any]) -> None:
    # Given the template / Then the detector sees every asynchronous entry point we know of
    assert asynchronously_invoked(resources) >= {
        "IngestFunction",
        "RulesFunction",
        "MigrationsFunction",
        "TrainingFunction",
    }


def test_every_asynchronously_invoked_function_has_a_failure_destination(resources: dict[str, Any]) -> None:
    # Given every function invoked asynchronously
    missing = sorted(fn for fn in asynchronously_invoked(resources) if not _has_failure_destination(fn, resources))
    # Then a failed invocation (after Lambda's retries) is kept in a queue
    assert not missing, f"no DLQ / on-failure destination: {missing}"


def _eventbridge_targets(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            for event_name, event in resource["Properties"].get("Events", {}).items():
                if event["Type"] in ASYNC_EVENT_TYPES - {"S3", "SNS"}:
                    found.append((f"{name}.{event_name}", event["Properties"]))
        if resource["Type"] == "AWS::Events::Rule":
            found += [(f"{name}.{t['Id']}", t) for t in resource["Properties"]["Targets"]]
    return found


def test_every_eventbridge_target_has_a_retry_policy_and_dead_letter_queue(resources: dict[str, Any]) -> None:
    targets = _eventbridge_targets(resources)
    assert len(targets) >= 4  # ingest, rules (schedule + market changed), training
    for name, target in targets:
        assert target.get("RetryPolicy", {}).get("MaximumRetryAttempts") is not None, name
        assert target.get("DeadLetterConfig", {}).get("Arn"), name


def test_market_changed_events_from_ingest_reach_rules(resources: dict[str, Any]) -> None:
    event = resources["RulesFunction"]["Properties"]["Events"]["MarketChanged"]
    assert event["Type"] == "EventBridgeRule"
    # What ingest publishes, and what tidewatch.events.MarketChangedEvent accepts
    assert event["Properties"]["Pattern"] == {
        "source": [MARKET_CHANGED_SOURCE],
        "detail-type": [MARKET_CHANGED_DETAIL_TYPE],
    }
    fields = MarketChangedEvent.model_fields
    accepted = (get_args(fields["source"].annotation), get_args(fields["detail_type"].annotation))
    assert accepted == ((MARKET_CHANGED_SOURCE,), (MARKET_CHANGED_DETAIL_TYPE,))
    assert event["Properties"]["EventBusName"] == {"Ref": "EventBus"}
    statements = resources["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    assert any(s["Action"] == "events:PutEvents" for s in statements)


@pytest.mark.parametrize("queue", ["AsyncFailureQueue", "EventDeadLetterQueue"])
def test_every_failure_queue_has_a_depth_alarm(resources: dict[str, Any], queue: str) -> None:
    alarms = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert any(a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]} for a in alarms)
