"""Event shapes shared by functions: EventBridge envelopes and the health-check request."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ScheduledEvent(BaseModel):
    """An EventBridge "Scheduled Event" (the shape EventBridge delivers to a Lambda target)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    source: Literal["aws.events"]
    time: datetime
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


class HealthRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["health"]
