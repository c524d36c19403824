"""Messages a WebSocket client sends ($default route) and the replies it gets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["subscribe", "unsubscribe"]
    topic: str = Field(min_length=1, max_length=64)


def ack(action: str, topic: str, topics: list[str]) -> dict[str, Any]:
    return {"type": f"{action}d", "topic": topic, "topics": topics}


def error(problem: dict[str, Any]) -> dict[str, Any]:
    return {"type": "error", "error": problem}
