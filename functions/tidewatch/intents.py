"""What a rule asks the wallet function to prepare: the rule intents, one model for both sides.

A rule's `prepare_transaction` action stores one of these (validated at the API, published in the
rule JSON Schema); the rules function sends it to the wallet function, which plans the
transactions from it. Ratios are exact Decimals in memory and JSON numbers on the wire, as users
write them in a rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from tidewatch.bounds import BIGINT_MAX

Speed = Literal["slow", "normal", "fast"]


# Ratios are Decimals in (gt, le], read from a JSON number or numeric string and written as a JSON
# number. Defaults are given as floats and validated, so an instance always holds a Decimal and the
# JSON Schema shows the default as a number.
_AS_NUMBER = PlainSerializer(float, return_type=float, when_used="json")
HealthFactorTarget = Annotated[
    Decimal,
    Field(gt=Decimal(1), le=Decimal(10)),
    _AS_NUMBER,
    WithJsonSchema({"type": "number", "exclusiveMinimum": 1.0, "maximum": 10.0}),
]
Fraction = Annotated[
    Decimal,
    Field(gt=Decimal(0), le=Decimal(1)),
    _AS_NUMBER,
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0.0, "maximum": 1.0}),
]
MarketId = Annotated[int, Field(gt=0, le=BIGINT_MAX, description="Id of a market (GET /markets).")]


class _Intent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepayToHealthFactor(_Intent):
    """Repay Aave debt in one market until the account's health factor reaches the target.

    The sender is the portfolio address with the lowest health factor that owes this asset; the
    amount is computed from its account data and the oracle price, capped by its debt and wallet.
    """

    kind: Literal["repay_to_health_factor"]
    market_id: Annotated[MarketId, Field(description="Id of an aave-v3 market (GET /markets).")]
    target_health_factor: HealthFactorTarget = Field(default=1.5, validate_default=True)
    speed: Speed = "normal"


class MoveSupply(_Intent):
    """Withdraw a fraction of the supplied balance from one market and supply it to another market
    of the same token on the same chain ("move supply to the better market")."""

    kind: Literal["move_supply"]
    from_market_id: MarketId
    to_market_id: MarketId
    fraction: Fraction = Field(default=1.0, validate_default=True)
    speed: Speed = "normal"


RuleIntent = Annotated[RepayToHealthFactor | MoveSupply, Field(discriminator="kind")]
