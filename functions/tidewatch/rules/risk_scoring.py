"""RiskScorer over the risk function's batched endpoint (`score_risk_batch`), one invoke per chunk.

Positions come from an injected reader (portfolio id -> the risk payloads of its borrowing
positions: collateral/debt holdings as the risk function's `RiskRequest` expects them). A portfolio's
probability is the highest of its positions'. The invoke callable is the FunctionInvoker (direct
Lambda invoke in AWS, in-process locally): it takes the payload dict and returns the envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tidewatch.errors import UpstreamUnavailable
from tidewatch.rules.snapshot import RiskRequest

PositionPayloads = Callable[[Sequence[int]], Mapping[int, Sequence[Mapping[str, Any]]]]
Invoke = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class BatchRiskScorer:
    def __init__(self, positions: PositionPayloads, invoke: Invoke, *, chunk_size: int = 1000) -> None:
        self._positions = positions
        self._invoke = invoke
        self._chunk = chunk_size

    def liquidation_probabilities(self, requests: Sequence[RiskRequest]) -> Mapping[RiskRequest, float]:
        by_portfolio = self._positions(sorted({p for p, _ in requests}))
        items: list[dict[str, Any]] = []
        for portfolio_id, horizon in requests:
            for index, position in enumerate(by_portfolio.get(portfolio_id, ())):
                items.append({**position, "position_id": f"{portfolio_id}:{horizon}:{index}", "horizon_hours": horizon})
        result: dict[RiskRequest, float] = {}
        for start in range(0, len(items), self._chunk):
            envelope = self._invoke({"action": "score_risk_batch", "positions": items[start : start + self._chunk]})
            if not envelope.get("ok"):
                raise UpstreamUnavailable(f"risk function refused the batch: {envelope.get('error')}")
            for forecast in envelope["result"]["forecasts"]:
                portfolio_ref, horizon_ref, _ = str(forecast["position_id"]).split(":")
                key = (int(portfolio_ref), int(horizon_ref))
                result[key] = max(result.get(key, 0.0), float(forecast["probability"]))
        return result
