"""The risk function's typed entry: actions, batches and error envelopes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from risk.deps import Models
from risk.handler import RiskEvent, dispatch, handle
from tests.unit.forecast.positions import eth_position
from tidewatch.entrypoint import run_typed

EVENTS = Path(__file__).resolve().parents[3] / "events" / "risk"


def call(event: dict[str, Any], models: Models) -> dict[str, Any]:
    return handle(event, models)


def test_single_position_is_scored(models: Models) -> None:
    # Given a score_risk event
    event = {"action": "score_risk", "position": eth_position(1.3, horizon_hours=168).model_dump(mode="json")}
    # When handled
    response = call(event, models)
    # Then a forecast comes back with the model version
    assert response["ok"] is True
    result = response["result"]
    assert result["position_id"] == "hf-1.3"
    assert 0.0 < result["probability"] < 1.0
    assert result["band"] in {"low", "medium", "high", "critical"}
    assert result["model_version"] == models.risk.version


def test_batch_scores_every_position_in_order(models: Models) -> None:
    positions = [eth_position(1.0 + i / 100, horizon_hours=24).model_dump(mode="json") for i in range(1, 200)]
    response = call({"action": "score_risk_batch", "positions": positions}, models)
    forecasts = response["result"]["forecasts"]
    assert len(forecasts) == 199
    assert [f["position_id"] for f in forecasts] == [p["position_id"] for p in positions]


def test_sample_events_parse_and_run(models: Models) -> None:
    for path in sorted(EVENTS.glob("*.json")):
        if path.name == "health.json":
            continue
        response = call(json.loads(path.read_text()), models)
        assert response["ok"] is True, (path.name, response)


def test_horizon_out_of_range_is_an_error_envelope(models: Models) -> None:
    position = eth_position(1.3).model_dump(mode="json") | {"horizon_hours": 5000}
    response = call({"action": "score_risk", "position": position}, models)
    assert response["ok"] is False
    assert response["error"]["status"] == 422
    assert response["error"]["errors"][0]["field"].endswith("horizon_hours")


def test_negative_amount_is_an_error_envelope(models: Models) -> None:
    position = eth_position(1.3).model_dump(mode="json")
    position["collateral"][0]["amount"] = -5
    response = call({"action": "score_risk", "position": position}, models)
    assert response["ok"] is False
    assert "amount" in response["error"]["errors"][0]["field"]


def test_unknown_asset_is_an_error_envelope(models: Models) -> None:
    position = eth_position(1.3).model_dump(mode="json")
    position["collateral"][0]["symbol"] = "SHIBAINU"
    response = call({"action": "score_risk", "position": position}, models)
    assert response["ok"] is False
    assert response["error"]["type"].endswith("/unknown-asset")


def test_one_unknown_asset_does_not_sink_a_batch(models: Models) -> None:
    # Given a batch where the middle position holds an unknown token
    positions = [eth_position(h).model_dump(mode="json") for h in (1.1, 1.2, 1.3)]
    positions[1]["collateral"][0]["symbol"] = "SHIBAINU"
    # When scored
    response = call({"action": "score_risk_batch", "positions": positions}, models)
    # Then the others are scored and the bad one is reported by index
    result = response["result"]
    assert response["ok"] is True
    assert [f["position_id"] for f in result["forecasts"]] == ["hf-1.1", "hf-1.3"]
    (error,) = result["errors"]
    assert error["index"] == 1
    assert error["problem"]["type"].endswith("/unknown-asset")


def test_zero_volatility_override_means_no_price_risk(models: Models) -> None:
    position = eth_position(1.05, horizon_hours=168, volatility=0.0).model_dump(mode="json")
    result = call({"action": "score_risk", "position": position}, models)["result"]
    assert result["probability"] == 0.0
    assert result["reference_probability"] == 0.0


def test_the_batch_fast_path_matches_the_typed_path(models: Models) -> None:
    # Given a batch of mixed positions (volatile/stable debt, a volatility override, no debt)
    positions = [
        eth_position(1.05, horizon_hours=24),
        eth_position(1.3, horizon_hours=168, volatility=0.9),
        eth_position(2.5, horizon_hours=720),
    ]
    event = {"action": "score_risk_batch", "positions": [p.model_dump(mode="json") for p in positions]}
    # When scored through the handler (fast path) and through the typed models
    fast = call(event, models)["result"]
    typed = run_typed(event, RiskEvent, lambda parsed: dispatch(parsed, models))["result"]
    # Then the results are the same, field for field
    assert fast["forecasts"] == typed["forecasts"]
    assert fast["errors"] == typed["errors"] == []


def test_the_batch_fast_path_refuses_what_the_payload_refuses(models: Models) -> None:
    good = eth_position(1.3).model_dump(mode="json")
    for change in (
        {"horizon_hours": 0},
        {"collateral": []},
        {"unexpected": 1},
        {"collateral": [good["collateral"][0] | {"liquidation_threshold": 1.5}]},
        {"collateral": [good["collateral"][0] | {"price_usd": "NaN"}]},
        {"debt": [good["debt"][0] | {"amount": -1}]},
    ):
        response = call({"action": "score_risk_batch", "positions": [good | change]}, models)
        assert response["ok"] is False, change
        assert response["error"]["status"] == 422
