"""Pushes to many connections split across invocations: chunks of connections, each pushed apart.

One invocation posts to its connections with bounded parallelism (`Broadcaster`); past a size the
rest of a broadcast is cut into chunks and each chunk goes to an invocation of its own (an
asynchronous invoke of the WebSocket function in AWS, concurrent threads locally), so a broadcast
to ten thousand connections takes about as long as one chunk. A chunk carries connection ids
grouped by management endpoint (small: well under the 256 KB asynchronous payload limit at the
default chunk size), the message already serialised, and the owner when the data is private.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tidewatch.live.repository import Recipient
from tidewatch.observability import logger

DEFAULT_CHUNK = 1000


class PushChunk(BaseModel):
    """One chunk of a broadcast: the payload of a `live.push` invocation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["live.push"] = "live.push"
    data: str = Field(max_length=128_000, description="The message, serialised once for every connection.")
    connections: dict[str, list[tuple[str, int]]] = Field(
        description="Management endpoint → (connection id, user id) pairs."
    )
    only_user: int | None = Field(default=None, description="Private data: only this user's connections.")

    def recipients(self) -> list[Recipient]:
        return [Recipient(cid, uid, endpoint) for endpoint, pairs in self.connections.items() for cid, uid in pairs]

    @classmethod
    def of(cls, recipients: Sequence[Recipient], data: bytes, only_user: int | None) -> PushChunk:
        grouped: dict[str, list[tuple[str, int]]] = {}
        for r in recipients:
            grouped.setdefault(r.endpoint, []).append((r.connection_id, r.user_id))
        return cls(data=data.decode(), connections=grouped, only_user=only_user)


def chunked(recipients: Sequence[Recipient], size: int) -> list[Sequence[Recipient]]:
    """Chunks of at most `size`, the recipients grouped by management endpoint first (stable), so
    a chunk posts to as few endpoints as there are (one socket a thread and endpoint)."""
    ordered = sorted(recipients, key=lambda r: r.endpoint)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


class ChunkFanOut(Protocol):
    def hand_off(self, chunks: Sequence[PushChunk]) -> None:
        """Start pushing these chunks elsewhere; returns once they are handed over."""
        ...


class LambdaChunkFanOut:
    """One asynchronous invoke (`InvocationType=Event`) of the WebSocket function per chunk."""

    def __init__(self, function_name: str, *, client: Any = None) -> None:
        self._function = function_name
        self._client = client

    def _lambda(self) -> Any:
        if self._client is None:
            import boto3  # only deployed broadcasters that fan out pay for boto3

            self._client = boto3.client("lambda")
        return self._client

    def hand_off(self, chunks: Sequence[PushChunk]) -> None:
        client = self._lambda()
        for chunk in chunks:
            client.invoke(FunctionName=self._function, InvocationType="Event", Payload=chunk.model_dump_json().encode())


class ThreadChunkFanOut:
    """Every chunk pushed on its own thread, through `run` (the push handler's JSON round trip).

    The local run's stand-in for asynchronous invokes; `hand_off` waits for the chunks, so a
    local broadcast has finished when it returns (and benchmarks time the whole broadcast).
    """

    def __init__(self, run: Callable[[dict[str, Any]], Any], *, max_workers: int = 16) -> None:
        self._run = run
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ws-chunk")

    def hand_off(self, chunks: Sequence[PushChunk]) -> None:
        def one(chunk: PushChunk) -> None:
            try:
                self._run(json.loads(chunk.model_dump_json()))
            except Exception as exc:  # one chunk's failure must not stop the others
                logger.warning("push chunk failed", extra={"connections": len(chunk.recipients()), "error": str(exc)})

        list(self._pool.map(one, chunks))
