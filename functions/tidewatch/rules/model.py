"""The rule model: what a user writes, validated at the API and published as a JSON Schema.

A rule watches one trigger, optionally narrowed by extra conditions (all / any of further
triggers), and runs one or more actions when it fires. Units: APYs and probabilities are fractions
(0.05 = 5 %), price changes are fractions of the earlier price, times are seconds.

Firing semantics (shared by the vectorised engine and the reference evaluator):
- `above` fires when value > threshold, `below` when value < threshold (the boundary never fires);
- after firing the rule is disarmed; it re-arms once the trigger value is back on the other side
  of the threshold by at least `hysteresis` (above: value <= threshold - hysteresis);
- a fired rule does not fire again before `cooldown_seconds` have passed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationInfo, field_validator, model_validator

from tidewatch.bounds import BIGINT_MAX
from tidewatch.intents import RuleIntent

MarketId = Annotated[int, Field(gt=0, le=BIGINT_MAX, description="Id of a market (GET /markets).")]
PortfolioId = Annotated[int, Field(gt=0, le=BIGINT_MAX, description="Id of one of your portfolios.")]
Side = Literal["supply", "borrow"]
Apy = Annotated[float, Field(ge=-1.0, le=100.0, description="APY as a fraction: 0.05 is 5 %.")]
Hysteresis = Annotated[
    float,
    Field(ge=0.0, le=100.0, description="How far past the threshold the value must go back before the rule re-arms."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketApyTrigger(_Strict):
    """A market's supply or borrow APY crosses a threshold."""

    type: Literal["market_apy"]
    market_id: MarketId
    side: Side = "supply"
    op: Literal["above", "below"]
    threshold: Apy
    hysteresis: Hysteresis = 0.0


class ApySpreadTrigger(_Strict):
    """APY of `market_id` minus APY of `other_market_id` (same side) crosses a threshold."""

    type: Literal["apy_spread"]
    market_id: MarketId
    other_market_id: MarketId
    side: Side = "supply"
    op: Literal["above", "below"]
    threshold: Annotated[float, Field(ge=-100.0, le=100.0, description="Spread as a fraction: 0.01 is 1 point.")]
    hysteresis: Hysteresis = 0.0

    @model_validator(mode="after")
    def _two_markets(self) -> ApySpreadTrigger:
        if self.market_id == self.other_market_id:
            raise ValueError("other_market_id must differ from market_id")
        return self


class HealthFactorTrigger(_Strict):
    """The lowest health factor across the rule's portfolio falls below a threshold."""

    type: Literal["health_factor_below"]
    threshold: Annotated[float, Field(gt=0.0, le=100.0)]
    hysteresis: Hysteresis = 0.0


class RiskForecastTrigger(_Strict):
    """The forecast probability of liquidation within the horizon rises above a threshold."""

    type: Literal["risk_forecast_above"]
    horizon_hours: Literal[24, 168] = 24
    threshold: Annotated[float, Field(gt=0.0, lt=1.0, description="Probability, 0..1.")]
    hysteresis: Hysteresis = 0.0


class PriceChangeTrigger(_Strict):
    """An asset's USD price changed by more than a fraction over the last `window_seconds`."""

    type: Literal["price_change"]
    chain_id: Literal[1, 8453] = 1
    asset: Annotated[str, Field(pattern=r"^[A-Za-z0-9.]{1,20}$", description="Asset symbol, e.g. WETH.")]
    window_seconds: Annotated[int, Field(ge=300, le=7 * 86_400)] = 3600
    op: Literal["rises", "falls", "moves"]
    threshold: Annotated[float, Field(gt=0.0, le=10.0, description="Fraction: 0.05 is a 5 % change.")]
    hysteresis: Hysteresis = 0.0


Trigger = Annotated[
    MarketApyTrigger | ApySpreadTrigger | HealthFactorTrigger | RiskForecastTrigger | PriceChangeTrigger,
    Field(discriminator="type"),
]
PORTFOLIO_TRIGGERS = ("health_factor_below", "risk_forecast_above")


class ConditionGroup(_Strict):
    """Extra conditions that must also hold (`all`) or of which one must hold (`any`)."""

    mode: Literal["all", "any"] = "all"
    items: Annotated[list[Trigger], Field(min_length=1, max_length=5)]


class NotifyAction(_Strict):
    """A notification stored for the user and pushed live to their dashboard."""

    type: Literal["notify"]
    title: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    severity: Literal["info", "warning", "critical"] = "warning"


class PrepareTransactionAction(_Strict):
    """Prepare unsigned transactions through the wallet function for the user to sign."""

    type: Literal["prepare_transaction"]
    intent: RuleIntent


class WebhookAction(_Strict):
    """POST the firing to a URL, signed with HMAC-SHA256 (header `Tidewatch-Signature`)."""

    type: Literal["webhook"]
    url: HttpUrl

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: HttpUrl) -> HttpUrl:
        if url.scheme not in ("http", "https"):
            raise ValueError("webhook url must be http(s)")
        return url


DestinationId = Annotated[int, Field(gt=0, le=BIGINT_MAX, description="Id of one of your alert destinations.")]


class DeliverAction(_Strict):
    """Send the alert to verified destinations (email, Telegram, Discord, Slack, browser push).

    Without `destinations` the alert goes to every verified destination marked as default. Each
    (firing, destination) is delivered at least once and sent at most once; quiet hours hold back
    alerts below the user's quiet-hours severity.
    """

    type: Literal["deliver"]
    destinations: Annotated[list[DestinationId], Field(min_length=1, max_length=10)] | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    title: Annotated[str, Field(min_length=1, max_length=120)] | None = None

    @field_validator("destinations")
    @classmethod
    def _unique(cls, destinations: list[int] | None) -> list[int] | None:
        if destinations is not None and len(set(destinations)) != len(destinations):
            raise ValueError("destinations must not repeat")
        return destinations


Action = Annotated[NotifyAction | PrepareTransactionAction | WebhookAction | DeliverAction, Field(discriminator="type")]


class RuleDefinition(_Strict):
    """What is stored in `rules.definition` (the rest of a rule are plain columns)."""

    trigger: Trigger
    conditions: ConditionGroup | None = None
    actions: Annotated[list[Action], Field(min_length=1, max_length=5)]


class RuleSpec(RuleDefinition):
    """A rule as written by its owner (POST /rules body); the published JSON Schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Tidewatch rule")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    portfolio_id: Annotated[PortfolioId | None, Field(validate_default=True)] = None
    cadence_seconds: Annotated[
        int,
        Field(ge=60, le=86_400, multiple_of=60, description="How often the rule is evaluated (whole minutes)."),
    ] = 60
    cooldown_seconds: Annotated[int, Field(ge=0, le=30 * 86_400)] = 3600
    enabled: bool = True

    @field_validator("portfolio_id", mode="after")
    @classmethod
    def _portfolio_when_needed(cls, portfolio_id: int | None, info: ValidationInfo) -> int | None:
        # A field validator (not a model validator) so that the 422 names `portfolio_id`.
        trigger = info.data.get("trigger")
        conditions = info.data.get("conditions")
        needs = [t for t in [trigger, *(conditions.items if conditions else [])] if t is not None]
        if portfolio_id is None and (
            any(t.type in PORTFOLIO_TRIGGERS for t in needs)
            or any(a.type == "prepare_transaction" for a in info.data.get("actions") or [])
        ):
            raise ValueError("portfolio_id is required for health factor / risk triggers and transactions")
        return portfolio_id

    def definition(self) -> RuleDefinition:
        return RuleDefinition(trigger=self.trigger, conditions=self.conditions, actions=self.actions)


class RulePatch(_Strict):
    """PATCH /rules/{id}: any subset of the fields; the merged rule is validated as a whole."""

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    portfolio_id: PortfolioId | None = None
    trigger: Trigger | None = None
    conditions: ConditionGroup | None = None
    actions: Annotated[list[Action], Field(min_length=1, max_length=5)] | None = None
    cadence_seconds: Annotated[int, Field(ge=60, le=86_400, multiple_of=60)] | None = None
    cooldown_seconds: Annotated[int, Field(ge=0, le=30 * 86_400)] | None = None
    enabled: bool | None = None
