"""Collaborators of the risk function: the models (loaded once per container) and the database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from risk.settings import ForecastSettings
from risk.store import read_uri, shipped
from tidewatch import snapstart
from tidewatch.db import Database
from tidewatch.forecast.apy_model import ApyModel
from tidewatch.forecast.artifact import Artifact, apy_model_from, parse_artifact, risk_model_from
from tidewatch.forecast.market import DEFAULT_WINDOW_HOURS, estimate_market_params
from tidewatch.forecast.repository import newest_approved_uri, recent_prices
from tidewatch.forecast.risk_model import RiskModel
from tidewatch.observability import logger


@dataclass(frozen=True)
class Models:
    risk: RiskModel
    apy: ApyModel


def load_artifact(kind: str, database: Database | None, s3_client: Any | None = None) -> Artifact:
    """The newest approved artifact of `kind` from the registry, else the shipped default.

    A registry or store failure is logged and the shipped default serves: a cold start must not
    fail because the weekly training left something unreadable.
    """
    if database is not None:
        try:
            uri = newest_approved_uri(database, kind)
            if uri is not None:
                artifact = parse_artifact(read_uri(uri, s3_client))
                logger.info("loaded model artifact", extra={"kind": kind, "uri": uri, "version": artifact.card.version})
                return artifact
        except Exception as exc:  # any failure → the shipped default, loudly
            logger.warning(
                "model registry unavailable; serving the shipped default", extra={"kind": kind, "error": str(exc)}
            )
    return shipped(kind)


def fresh_volatility(model: RiskModel, database: Database, *, now: datetime | None = None) -> RiskModel:
    """The model with volatilities/correlations re-estimated from the last 30 days of ingested
    prices where there are enough (≥ 72 h); the artifact's table, then the fallbacks, elsewhere."""
    try:
        prices = recent_prices(database, hours=DEFAULT_WINDOW_HOURS, now=now or datetime.now(UTC))
    except Exception as exc:  # stale volatility beats no service
        logger.warning("price history unavailable; using the artifact's volatility table", extra={"error": str(exc)})
        return model
    if not prices:
        return model
    return replace(model, market=model.market.overlay(estimate_market_params(prices)))


def load_models(database: Database | None, s3_client: Any | None = None) -> Models:
    if database is not None:
        try:
            database.ping()
        except Exception as exc:  # one connect timeout at cold start, not one per lookup
            logger.warning("database unreachable; serving the shipped models", extra={"error": str(exc)})
            database = None
    risk = risk_model_from(load_artifact("risk", database, s3_client))
    if database is not None:
        risk = fresh_volatility(risk, database)
    return Models(risk=risk, apy=apy_model_from(load_artifact("apy", database, s3_client)))


@dataclass(frozen=True)
class RiskDeps:
    models: Models
    database: Database | None  # stored rate history for APY forecasts, and health


def build_deps(settings: ForecastSettings, database: Database | None, *, s3_client: Any | None = None) -> RiskDeps:
    """The models from the registry when one is configured (else the shipped ones), over `database`."""
    return RiskDeps(models=load_models(database if settings.model_registry else None, s3_client), database=database)


@lru_cache(maxsize=1)
def production_deps() -> RiskDeps:
    from tidewatch import runtime

    return build_deps(ForecastSettings(), runtime.database())


# The volatilities are estimated from the last 30 days of prices when the models load: clock-derived
# state that a SnapStart snapshot would serve for as long as the version lives. A restored
# container loads them again on its first request.
snapstart.after_restore(production_deps.cache_clear)
