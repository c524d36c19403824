"""Lambda entry point of the training function (weekly EventBridge schedule or a manual invoke).

Packaged as a container image (images/training/Dockerfile): scikit-learn, scipy and numpy do not
fit Lambda's 250 MB zip limit next to the base dependencies.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from tidewatch import runtime
from tidewatch.entrypoint import run_typed
from tidewatch.errors import InvalidInput
from tidewatch.events import ScheduledEvent
from tidewatch.observability import logger, metrics, tracer
from training import logic
from training.settings import TrainingSettings
from training.store import S3ArtifactStore

TrainingEvent = Annotated[ScheduledEvent | logic.TrainRequest, Field(union_mode="left_to_right")]


def _dispatch(event: ScheduledEvent | logic.TrainRequest) -> Any:
    settings = TrainingSettings()
    if not settings.model_bucket:
        raise InvalidInput("TIDEWATCH_MODEL_BUCKET is not set: training has nowhere to publish")
    store = S3ArtifactStore(settings.model_bucket, settings.model_prefix)
    return logic.train(event, database=runtime.database(), store=store, lookback_days=settings.training_lookback_days)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_typed(event, TrainingEvent, _dispatch)
