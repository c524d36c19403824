"""Lambda entry point of the training function (weekly EventBridge schedule or a manual invoke).

Packaged as a container image (images/training/Dockerfile): scikit-learn, scipy and numpy do not
fit Lambda's 250 MB zip limit next to the base dependencies.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from tidewatch.entrypoint import run_typed
from tidewatch.events import ScheduledEvent
from tidewatch.observability import logger, metrics, tracer
from training import logic
from training.deps import TrainingDeps, production_deps

TrainingEvent = Annotated[ScheduledEvent | logic.TrainRequest, Field(union_mode="left_to_right")]


def handle(event: ScheduledEvent | logic.TrainRequest, deps: TrainingDeps) -> Any:
    return logic.train(event, database=deps.database, store=deps.store, lookback_days=deps.lookback_days)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def run(typed: ScheduledEvent | logic.TrainRequest) -> Any:
        return handle(typed, production_deps())

    return run_typed(event, TrainingEvent, run)
