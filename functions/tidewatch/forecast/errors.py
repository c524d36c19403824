"""Forecast input errors: clear, stable problem types for the caller."""

from __future__ import annotations

from tidewatch.errors import DomainError, InvalidInput


class UnknownAsset(InvalidInput):
    """An asset the risk model has no volatility estimate or fallback for."""

    type_slug = "unknown-asset"
    title = "Unknown asset"


class HorizonOutOfRange(InvalidInput):
    type_slug = "horizon-out-of-range"
    title = "Horizon out of range"


class UnknownMarket(InvalidInput):
    """An APY forecast asked for a market with too little history to build features."""

    type_slug = "unknown-market"
    title = "Not enough market history"


class ArtifactInvalid(DomainError):
    """A model artifact that cannot be read or does not match the expected schema."""

    type_slug = "model-artifact-invalid"
    title = "Model artifact invalid"
    status = 500
