"""The batched risk adapter: one invoke per chunk, worst position per portfolio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidewatch.forecast.payloads import ApyBatchRequest, ApyBatchResult, RiskBatchRequest, RiskBatchResult
from tidewatch.rules.risk_scoring import BatchRiskScorer


def _position(symbol: str) -> dict[str, Any]:
    collateral = {
        "symbol": symbol,
        "amount": 10**18,
        "decimals": 18,
        "price_usd": "2000",
        "liquidation_threshold": "0.8",
    }
    return {"collateral": [collateral], "debt": [{"symbol": "USDC", "amount": 10**9, "decimals": 6, "price_usd": "1"}]}


class RecordingRisk:
    """A risk function that answers each position with the probability the test gives it."""

    def __init__(self, probabilities: Mapping[str, float]) -> None:
        self.probabilities = probabilities
        self.calls: list[RiskBatchRequest] = []

    def score_batch(self, request: RiskBatchRequest) -> RiskBatchResult:
        self.calls.append(request)
        forecasts = [
            {
                "position_id": p.position_id,
                "horizon_hours": p.horizon_hours,
                "health_factor": 1.5,
                "probability": self.probabilities[str(p.position_id)],
                "reference_probability": None,
                "distance_to_liquidation": 0.3,
                "band": "low",
                "model_version": "test",
            }
            for p in request.positions
        ]
        return RiskBatchResult.model_validate({"model_version": "test", "forecasts": forecasts})

    def forecast_apy_batch(self, request: ApyBatchRequest) -> ApyBatchResult:
        raise AssertionError("not asked")


def test_scores_many_portfolios_in_one_batched_call() -> None:
    # Given two portfolios, one with two borrowing positions, one without any
    positions = {1: [_position("WETH"), _position("WBTC")], 2: [_position("WETH")]}
    risk = RecordingRisk({"1:24:0": 0.1, "1:24:1": 0.3, "2:24:0": 0.05})
    calls = risk.calls

    def reader(ids: Sequence[int]) -> Mapping[int, Sequence[Mapping[str, Any]]]:
        return {i: positions[i] for i in ids if i in positions}

    # When three portfolios are scored
    result = BatchRiskScorer(reader, risk).liquidation_probabilities([(1, 24), (2, 24), (3, 24)])
    # Then one call carried every position with its horizon, and each portfolio has its worst one
    assert len(calls) == 1
    assert calls[0].action == "score_risk_batch"
    assert {p.horizon_hours for p in calls[0].positions} == {24}
    assert result == {(1, 24): 0.3, (2, 24): 0.05}
