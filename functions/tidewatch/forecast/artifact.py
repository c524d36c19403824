"""Versioned model artifacts: one JSON document per model holding its card and parameters.

A risk artifact holds the logistic coefficients and the volatility/correlation table it was
trained with; an APY artifact holds one head per (side, horizon). Both are a few kilobytes and
are read with the standard library and numpy only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tidewatch.forecast.apy_model import APY_FEATURES, SCHEME, ApyHead, ApyModel, head_key
from tidewatch.forecast.errors import ArtifactInvalid
from tidewatch.forecast.market import MarketParams
from tidewatch.forecast.risk_model import RISK_FEATURES, CalibrationMap, RiskModel
from tidewatch.forecast.risk_model import SCHEME as RISK_SCHEME

SCHEMA_VERSION: Literal[1] = 1


class DataWindow(BaseModel):
    start: datetime
    end: datetime


class ModelCard(BaseModel):
    """What a model is, what it was trained on and how well it did (stored beside it and in
    `model_artifacts.card`)."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["risk", "apy"]
    version: str
    created_at: datetime
    data_source: str
    data_window: DataWindow
    generated_data: bool = Field(description="True when trained on generated scenarios rather than real history.")
    features: list[str]
    training_samples: int
    metrics: dict[str, Any]
    notes: list[str] = Field(default_factory=list)


class Artifact(BaseModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["risk", "apy"]
    card: ModelCard
    params: dict[str, Any]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)


def parse_artifact(raw: str | bytes) -> Artifact:
    try:
        return Artifact.model_validate_json(raw)
    except ValidationError as exc:
        raise ArtifactInvalid(
            f"model artifact does not match schema v{SCHEMA_VERSION}: {exc.error_count()} errors"
        ) from exc


def risk_params(model: RiskModel) -> dict[str, Any]:
    return {
        "features": list(RISK_FEATURES),
        "scheme": RISK_SCHEME,
        "horizons": list(model.horizons),
        "maps": [m.to_json() for m in model.maps],
        "market": model.market.to_json(),
    }


def risk_model_from(artifact: Artifact) -> RiskModel:
    if artifact.kind != "risk":
        raise ArtifactInvalid(f"expected a risk artifact, got {artifact.kind}")
    params = artifact.params
    try:
        if list(params["features"]) != list(RISK_FEATURES):
            raise ArtifactInvalid(f"risk artifact features {params['features']} differ from {list(RISK_FEATURES)}")
        if params.get("scheme") != RISK_SCHEME:
            raise ArtifactInvalid(f"risk artifact scheme {params.get('scheme')!r} is not {RISK_SCHEME!r}")
        horizons = tuple(float(h) for h in params["horizons"])
        maps = tuple(CalibrationMap.from_json(m) for m in params["maps"])
        if not horizons or len(horizons) != len(maps) or list(horizons) != sorted(set(horizons)):
            raise ArtifactInvalid("risk artifact needs one calibration map per ascending horizon")
        return RiskModel(
            version=artifact.card.version, horizons=horizons, maps=maps, market=MarketParams.from_json(params["market"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactInvalid(f"risk artifact parameters unreadable: {exc}") from exc


def apy_params(model: ApyModel) -> dict[str, Any]:
    return {
        "features": list(APY_FEATURES),
        "scheme": SCHEME,
        "kinks": dict(model.kinks),
        "heads": {k: h.to_json() for k, h in model.heads.items()},
    }


def apy_model_from(artifact: Artifact) -> ApyModel:
    if artifact.kind != "apy":
        raise ArtifactInvalid(f"expected an apy artifact, got {artifact.kind}")
    params = artifact.params
    try:
        if list(params["features"]) != list(APY_FEATURES):
            raise ArtifactInvalid(f"apy artifact features {params['features']} differ from {list(APY_FEATURES)}")
        if params.get("scheme") != SCHEME:
            raise ArtifactInvalid(f"apy artifact scheme {params.get('scheme')!r} is not {SCHEME!r}")
        heads = {k: ApyHead.from_json(v) for k, v in params["heads"].items()}
        kinks = {str(k): float(v) for k, v in (params.get("kinks") or {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactInvalid(f"apy artifact parameters unreadable: {exc}") from exc
    missing = sorted({head_key(side, h) for side in ("supply", "borrow") for h in (24, 168)} - set(heads))
    if missing:
        raise ArtifactInvalid(f"apy artifact lacks heads {missing}")
    return ApyModel(version=artifact.card.version, heads=heads, kinks=kinks)


def model_card_markdown(card: ModelCard) -> str:
    """A human-readable model card written beside the artifact."""
    lines = [
        f"# Model card: {card.kind} {card.version}",
        "",
        f"- created: {card.created_at.isoformat()}",
        f"- data: {card.data_source} ({'GENERATED scenarios' if card.generated_data else 'real history'})",
        f"- data window: {card.data_window.start.isoformat()} .. {card.data_window.end.isoformat()}",
        f"- training samples: {card.training_samples}",
        f"- features: {', '.join(card.features)}",
        "",
        "## Metrics (walk-forward folds)",
        "",
        "```json",
        json.dumps(card.metrics, indent=1, sort_keys=True),
        "```",
    ]
    if card.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in card.notes]
    return "\n".join(lines) + "\n"
