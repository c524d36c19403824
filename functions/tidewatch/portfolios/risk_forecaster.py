"""The portfolio view's `RiskForecaster`: one batched call to the risk function per view.

Every account with debt is scored at 24 h and 7 d in a single `score_risk_batch` call; the answer
is shaped per account so the view (and the dashboard) can show each position's band, probability
and distance to liquidation. When the risk function is unreachable the view simply has no `risk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidewatch.db import Database
from tidewatch.forecast.client import RiskClient
from tidewatch.forecast.payloads import RiskBatchRequest
from tidewatch.portfolios.positions import Position
from tidewatch.portfolios.risk_requests import account_requests, load_thresholds

HORIZONS = (24, 168)


class RiskFunctionForecaster:
    def __init__(self, database: Database, risk: RiskClient) -> None:
        self._db = database
        self._risk = risk

    def forecast(self, positions: Sequence[Position]) -> dict[str, object]:
        thresholds = load_thresholds(self._db, sorted({p.chain_id for p in positions}))
        items: list[dict[str, Any]] = []
        keys = {}
        for horizon in HORIZONS:
            for key, request in account_requests(positions, thresholds, horizon_hours=horizon).items():
                request["position_id"] = f"{request['position_id']}@{horizon}"
                keys[request["position_id"]] = key
                items.append(request)
        if not items:
            return {"accounts": [], "horizons_hours": list(HORIZONS)}
        result = self._risk.score_batch(RiskBatchRequest.model_validate({"positions": items}))
        accounts: dict[tuple[Any, ...], dict[str, Any]] = {}
        for scored in result.forecasts:
            forecast = scored.model_dump(mode="json")
            chain_id, protocol, address, market = keys[forecast["position_id"]]
            entry = accounts.setdefault(
                (chain_id, protocol, address, market),
                {"chain_id": chain_id, "protocol": protocol, "address": address, "market": market, "by_horizon": {}},
            )
            entry["by_horizon"][str(forecast["horizon_hours"])] = {
                "probability": forecast["probability"],
                "band": forecast["band"],
                "distance_to_liquidation": forecast["distance_to_liquidation"],
                "health_factor": forecast["health_factor"],
            }
            if forecast["horizon_hours"] == HORIZONS[0]:
                entry.update(
                    probability=forecast["probability"],
                    band=forecast["band"],
                    distance_to_liquidation=forecast["distance_to_liquidation"],
                    health_factor=forecast["health_factor"],
                )
        return {
            "model_version": result.model_version,
            "horizons_hours": list(HORIZONS),
            "accounts": list(accounts.values()),
            "errors": [error.model_dump(mode="json") for error in result.errors],
        }
