"""Process-wide collaborators of the risk function: the models, loaded once per container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from risk.settings import ForecastSettings
from risk.store import newest_approved_uri, read_uri, shipped
from tidewatch.db import Database
from tidewatch.forecast.apy_model import ApyModel
from tidewatch.forecast.artifact import Artifact, apy_model_from, parse_artifact, risk_model_from
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


def load_models(database: Database | None, s3_client: Any | None = None) -> Models:
    return Models(
        risk=risk_model_from(load_artifact("risk", database, s3_client)),
        apy=apy_model_from(load_artifact("apy", database, s3_client)),
    )


@lru_cache(maxsize=1)
def models() -> Models:
    settings = ForecastSettings()
    database = None
    if settings.model_registry:
        from tidewatch import runtime

        database = runtime.database()
    return load_models(database)
