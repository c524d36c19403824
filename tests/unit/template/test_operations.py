"""Operational settings: Powertools configuration, timeouts that fit, bounded concurrency, alarms."""

from __future__ import annotations

import json
import re
from typing import Any

from tidewatch_local.template import REPO_ROOT, read_template

TEMPLATE = read_template()


def test_every_function_names_its_powertools_service() -> None:
    names = [spec.environment.get("POWERTOOLS_SERVICE_NAME") for spec in TEMPLATE.functions.values()]
    assert all(names), names
    assert len(set(names)) == len(names), "each function logs and emits metrics under its own service"


def test_metrics_namespace_is_per_environment(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "Tidewatch/${Environment}"}


def test_scheduled_functions_finish_before_the_next_tick() -> None:
    for schedule in TEMPLATE.schedules:
        interval = schedule.interval_seconds
        assert interval is not None, schedule
        assert TEMPLATE.functions[schedule.function].timeout_s < interval, schedule.function


def test_api_timeout_fits_api_gateway_integration_limit() -> None:
    assert TEMPLATE.function("api").timeout_s <= 29


def test_functions_that_use_the_database_have_bounded_concurrency(resources: dict[str, Any]) -> None:
    # Every serverless function reaches Postgres (through RDS Proxy); each has a concurrency cap
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            cap = resource["Properties"].get("ReservedConcurrentExecutions")
            assert cap is not None, f"{name} has no reserved concurrency"
            assert cap["Fn::If"][0] == "ReserveConcurrency", name


def test_ingest_staleness_alarm_watches_the_metric_ingest_emits(resources: dict[str, Any]) -> None:
    alarm = resources["IngestStalenessAlarm"]["Properties"]
    assert alarm["MetricName"] == "IngestTickSucceeded"
    assert alarm["Namespace"] == {"Fn::Sub": "Tidewatch/${Environment}"}
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "tidewatch-ingest"}]
    # No data at all (ingest not running) is as bad as failures
    assert alarm["TreatMissingData"] == "breaching"
    assert TEMPLATE.function("ingest").environment["POWERTOOLS_SERVICE_NAME"] == "tidewatch-ingest"


def test_every_alarm_notifies_and_links_its_runbook(resources: dict[str, Any]) -> None:
    alarms = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) >= 10
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        description = alarm["AlarmDescription"]
        text = description["Fn::Sub"] if isinstance(description, dict) else description
        assert "docs/operations.md#" in text, name


def test_every_alarm_runbook_exists_in_operations_doc(resources: dict[str, Any]) -> None:
    # Given the runbook anchors the alarms link to
    headings = {
        line.removeprefix("### ").strip()
        for line in (REPO_ROOT / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("### ")
    }
    for name, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        description = resource["Properties"]["AlarmDescription"]
        text = description["Fn::Sub"] if isinstance(description, dict) else description
        anchor = re.search(r"docs/operations\.md#([a-z0-9-]+)", text)
        # Then each names a runbook section that exists
        assert anchor is not None, name
        assert anchor.group(1) in headings, f"{name} links to #{anchor.group(1)}, not a heading of docs/operations.md"


def test_the_cloudwatch_dashboard_is_valid_json_with_the_figures_the_design_names(
    resources: dict[str, Any],
) -> None:
    body, _variables = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Given the body with every ${...} substitution filled in
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    titles = " | ".join(w["properties"]["title"] for w in dashboard["widgets"]).lower()
    # Then it shows request rates, error rates, latency, cache hit rate and DB query time
    for figure in ("requests", "error", "latency", "cache hit rate", "db query time"):
        assert figure in titles, figure
