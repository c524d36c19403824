"""Position builders shared by the forecast tests."""

from __future__ import annotations

from decimal import Decimal

from tidewatch.forecast.payloads import Collateral, Holding, RiskRequest


def eth_position(health_factor: float, *, horizon_hours: int = 24, volatility: float | None = None) -> RiskRequest:
    """1 WETH at 3000 USD with LT 0.8 against USDC debt sized for the given health factor."""
    debt_usd = 3000 * 0.8 / health_factor
    return RiskRequest(
        position_id=f"hf-{health_factor}",
        collateral=[
            Collateral(
                symbol="WETH", amount=10**18, decimals=18, price_usd=Decimal(3000), liquidation_threshold=Decimal("0.8")
            )
        ],
        debt=[Holding(symbol="USDC", amount=int(debt_usd * 10**6), decimals=6, price_usd=Decimal(1))],
        horizon_hours=horizon_hours,
        volatility=None if volatility is None else {"WETH": volatility},
    )
