"""The published rule JSON Schema is current and means what the model means."""

from __future__ import annotations

import json

from tidewatch.rules.schema import SCHEMA_PATH, render, rule_json_schema


def test_committed_schema_is_current() -> None:
    # Given the schema generated from the model, Then the committed docs/rule.schema.json equals it
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), "run: python -m tidewatch.rules.schema"


def test_schema_lists_every_trigger_and_action() -> None:
    text = json.dumps(rule_json_schema())
    for name in ("market_apy", "apy_spread", "health_factor_below", "risk_forecast_above", "price_change"):
        assert f'"{name}"' in text
    for name in ("notify", "prepare_transaction", "webhook"):
        assert f'"{name}"' in text
