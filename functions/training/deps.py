"""Collaborators of the training function, built once per container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tidewatch.db import Database
from tidewatch.errors import InvalidInput
from training.settings import TrainingSettings
from training.store import ArtifactStore


@dataclass(frozen=True)
class TrainingDeps:
    database: Database  # history in, `model_artifacts` records out
    store: ArtifactStore  # where approved artifacts are published (S3 in AWS)
    lookback_days: int  # the history a scheduled run trains on


def build_deps(settings: TrainingSettings, database: Database, store: ArtifactStore | None = None) -> TrainingDeps:
    """The training collaborators; without a `store`, the S3 bucket of the settings (refused when unset)."""
    if store is None:
        if not settings.model_bucket:
            raise InvalidInput("TIDEWATCH_MODEL_BUCKET is not set: training has nowhere to publish")
        from training.store import S3ArtifactStore

        store = S3ArtifactStore(settings.model_bucket, settings.model_prefix)
    return TrainingDeps(database=database, store=store, lookback_days=settings.training_lookback_days)


@lru_cache(maxsize=1)
def production_deps() -> TrainingDeps:
    from tidewatch import runtime

    return build_deps(TrainingSettings(), runtime.database())
