"""One Logger, Tracer and Metrics instance for the whole process.

Powertools reads its own configuration (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE,
POWERTOOLS_TRACE_DISABLED, LOG_LEVEL) from the environment; the template sets them per function.

With tracing disabled (POWERTOOLS_TRACE_DISABLED, or outside Lambda) the Tracer gets a provider
that records nothing, so the X-Ray SDK (aws_xray_sdk.core: about a quarter of the api's import
time) is never imported; Powertools' own Tracer builds the X-Ray recorder even when disabled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoSegment(BaseSegment):
    """A segment that records nothing (tracing disabled)."""

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class NoTracing(BaseProvider):
    """The Tracer's provider when tracing is disabled: every segment is a `_NoSegment`."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def _tracer() -> Tracer:
    # Powertools' own rule for "disabled" (the env variable, or not running in Lambda).
    if Tracer._is_tracer_disabled():
        return Tracer(disabled=True, provider=NoTracing())
    return Tracer()


logger = Logger()
tracer = _tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "NoTracing", "logger", "metrics", "tracer"]
