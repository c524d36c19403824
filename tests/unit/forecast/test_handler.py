"""The risk function's typed entry: actions, batches and error envelopes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from risk.deps import Models, RiskDeps
from risk.handler import RiskEvent, dispatch, handle
from tests.unit.forecast.positions import eth_position
from tidewatch.entrypoint import run_typed

EVENTS = Path(__file__).resolve().parents[3] / "events" / "risk"


def call(event: dict[str, Any], models: Models) -> dict[str, Any]:
    return handle(event, RiskDeps(models, None))


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


def _leg(symbol: str, usd: float, price: float, lt: float | None = None) -> dict[str, Any]:
    leg: dict[str, Any] = {
        "symbol": symbol,
        "amount": int(usd / price * 10**18),
        "decimals": 18,
        "price_usd": str(price),
    }
    if lt is not None:
        leg["liquidation_threshold"] = str(lt)
    return leg


def test_the_batch_fast_path_matches_the_typed_path(models: Models) -> None:
    # Given a batch of every shape: single volatile collateral, several correlated collaterals,
    # volatile debt, a same-asset loop, overrides, no debt, stable only, and an unknown asset
    rng = np.random.default_rng(4)
    positions: list[dict[str, Any]] = [eth_position(1.05, horizon_hours=24).model_dump(mode="json")]
    positions.append(eth_position(1.3, horizon_hours=168, volatility=0.9).model_dump(mode="json"))
    for i in range(60):
        debt = float(rng.uniform(500, 5_000))
        collateral = [_leg("WETH", debt * rng.uniform(0.7, 1.6), 3000.0, 0.8)]
        if i % 3:
            collateral.append(_leg(["LINK", "WBTC", "USDC", "cbETH"][i % 4], debt * rng.uniform(0.1, 0.8), 15.0, 0.7))
        owed = [_leg(["USDC", "DAI", "WETH", "LINK"][i % 4], debt, 1.0)] if i % 7 else []
        position: dict[str, Any] = {
            "position_id": f"p{i}",
            "collateral": collateral,
            "debt": owed,
            "horizon_hours": int(rng.choice([1, 24, 168, 720])),
        }
        if i % 11 == 0:
            position["volatility"] = {"weth": 1.1}
        positions.append(position)
    positions.insert(5, positions[5] | {"collateral": [_leg("SHIBAINU", 100.0, 1.0, 0.5)]})
    event = {"action": "score_risk_batch", "positions": positions}
    # When scored through the handler (fast path) and through the typed models
    fast = call(event, models)["result"]
    typed = run_typed(event, RiskEvent, lambda parsed: dispatch(parsed, RiskDeps(models, None)))["result"]
    # Then the results agree field for field (to float summation order)
    assert fast["errors"] == typed["errors"]
    assert len(fast["forecasts"]) == len(typed["forecasts"]) == len(positions) - 1
    for a, b in zip(fast["forecasts"], typed["forecasts"], strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(b[key], float):
                assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), (a["position_id"], key)
            else:
                assert a[key] == b[key], (a["position_id"], key)


def test_the_batch_fast_path_refuses_what_the_payload_refuses(models: Models) -> None:
    good = eth_position(1.3).model_dump(mode="json")
    for change in (
        {"horizon_hours": 0},
        {"collateral": []},
        {"unexpected": 1},
        {"collateral": [good["collateral"][0] | {"liquidation_threshold": 1.5}]},
        {"collateral": [good["collateral"][0] | {"price_usd": "NaN"}]},
        {"debt": [good["debt"][0] | {"amount": -1}]},
        {"debt": [good["debt"][0] | {"amount": 2**256}]},
        {"collateral": [good["collateral"][0] | {"amount": 10**400}]},
    ):
        response = call({"action": "score_risk_batch", "positions": [good | change]}, models)
        assert response["ok"] is False, change
        assert response["error"]["status"] == 422
