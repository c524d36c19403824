"""The batched risk adapter: one invoke per chunk, worst position per portfolio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidewatch.rules.risk_scoring import BatchRiskScorer


def test_scores_many_portfolios_in_one_batched_call() -> None:
    # Given two portfolios, one with two borrowing positions, one without any
    positions = {1: [{"collateral": ["a"]}, {"collateral": ["b"]}], 2: [{"collateral": ["c"]}]}
    calls: list[Mapping[str, Any]] = []

    def invoke(payload: Mapping[str, Any]) -> Mapping[str, Any]:
        calls.append(payload)
        probabilities = {"1:24:0": 0.1, "1:24:1": 0.3, "2:24:0": 0.05}
        forecasts = [
            {"position_id": p["position_id"], "probability": probabilities[p["position_id"]]}
            for p in payload["positions"]
        ]
        return {"ok": True, "result": {"forecasts": forecasts}}

    def reader(ids: Sequence[int]) -> Mapping[int, Sequence[Mapping[str, Any]]]:
        return {i: positions[i] for i in ids if i in positions}

    # When three portfolios are scored
    result = BatchRiskScorer(reader, invoke).liquidation_probabilities([(1, 24), (2, 24), (3, 24)])
    # Then one call carried every position with its horizon, and each portfolio has its worst one
    assert len(calls) == 1
    assert calls[0]["action"] == "score_risk_batch"
    assert {p["horizon_hours"] for p in calls[0]["positions"]} == {24}
    assert result == {(1, 24): 0.3, (2, 24): 0.05}
