"""RiskScorer over the risk function's batched endpoint (`score_risk_batch`), one invoke per chunk.

Positions come from an injected reader (portfolio id -> the risk payloads of its borrowing
positions: collateral/debt holdings as the risk function's `RiskRequest` expects them). A portfolio's
probability is the highest of its positions'. The risk function is reached through its client
(`tidewatch.forecast.client.RiskClient`): a refusal arrives as the domain error it describes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tidewatch.forecast.client import RiskClient
from tidewatch.forecast.payloads import RiskBatchRequest
from tidewatch.rules.snapshot import RiskRequest

PositionPayloads = Callable[[Sequence[int]], Mapping[int, Sequence[Mapping[str, Any]]]]


class BatchRiskScorer:
    def __init__(self, positions: PositionPayloads, risk: RiskClient, *, chunk_size: int = 1000) -> None:
        self._positions = positions
        self._risk = risk
        self._chunk = chunk_size

    def liquidation_probabilities(self, requests: Sequence[RiskRequest]) -> Mapping[RiskRequest, float]:
        by_portfolio = self._positions(sorted({p for p, _ in requests}))
        items: list[dict[str, Any]] = []
        for portfolio_id, horizon in requests:
            for index, position in enumerate(by_portfolio.get(portfolio_id, ())):
                items.append({**position, "position_id": f"{portfolio_id}:{horizon}:{index}", "horizon_hours": horizon})
        result: dict[RiskRequest, float] = {}
        for start in range(0, len(items), self._chunk):
            batch = RiskBatchRequest.model_validate({"positions": items[start : start + self._chunk]})
            for forecast in self._risk.score_batch(batch).forecasts:
                portfolio_ref, horizon_ref, _ = str(forecast.position_id).split(":")
                key = (int(portfolio_ref), int(horizon_ref))
                result[key] = max(result.get(key, 0.0), forecast.probability)
        return result
