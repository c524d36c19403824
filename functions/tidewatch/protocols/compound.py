"""Compound III (Comet): the read plans live in `compound_comet` (on-chain discovery of every
collateral, numéraire-aware prices, health factor checked against `isLiquidatable`)."""

from __future__ import annotations

from tidewatch.protocols.compound_comet import FACTOR_DECIMALS, PRICE_DECIMALS, market_plan, position_plan

__all__ = ["FACTOR_DECIMALS", "PRICE_DECIMALS", "market_plan", "position_plan"]
