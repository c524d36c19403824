"""Pushing messages to WebSocket connections through `post_to_connection`, in parallel.

Public topics (markets) go to every subscriber; private data (notifications, a portfolio) is
only ever looked up by the owner's user id, and each recipient is checked against that user id
again before sending. Connections that answer Gone (410) are deleted.

A poster that can pipeline (`PipelinedPost`, the plain-HTTP poster of the local run) gets the
recipients of each endpoint in at most `max_workers` batches, one a thread, instead of one call
a connection; the AWS poster (one signed request a post) keeps the per-connection path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tidewatch.live.fanout import DEFAULT_CHUNK, ChunkFanOut, PushChunk, chunked
from tidewatch.live.pushes import MarketPush, PortfolioPush, push
from tidewatch.live.repository import ConnectionStore, Recipient
from tidewatch.live.topics import MARKETS, NOTIFICATIONS, market_topic, portfolio_topic
from tidewatch.observability import logger

__all__ = ["Broadcaster", "ConnectionGone", "DeliveryReport", "PostToConnection", "Recipient"]


class ConnectionGone(Exception):
    """The connection no longer exists (API Gateway answered 410 GoneException)."""


# (management endpoint, connection id, data) -> None; raises ConnectionGone for a stale connection.
PostToConnection = Callable[[str, str, bytes], None]


@runtime_checkable
class PipelinedPost(Protocol):
    """A poster that also takes a batch for one endpoint and answers each post's HTTP status."""

    def __call__(self, endpoint: str, connection_id: str, data: bytes) -> None: ...

    def post_many(self, endpoint: str, posts: Sequence[tuple[str, bytes]]) -> list[int]: ...


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    gone: int = 0
    failed: int = 0
    handed_off: int = 0  # connections pushed by other invocations (chunks)


class Broadcaster:
    def __init__(
        self,
        store: ConnectionStore | None,
        post_to_connection: PostToConnection,
        *,
        max_workers: int = 32,
        fan_out: ChunkFanOut | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        self._store = store
        self._post = post_to_connection
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ws-push")
        self._max_workers = max_workers
        self._fan_out = fan_out
        self._chunk_size = chunk_size
        self._handoff = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ws-handoff")

    def _required_store(self) -> ConnectionStore:
        if self._store is None:
            raise RuntimeError("this broadcaster has no connection store")
        return self._store

    def publish_market(self, market_id: int, data: Mapping[str, Any]) -> DeliveryReport:
        recipients = self._required_store().subscribers([MARKETS, market_topic(market_id)])
        return self.deliver(recipients, push(MarketPush(market_id=market_id, data=dict(data))))

    def push_to_user(self, user_id: int, message: Mapping[str, Any]) -> int:
        """A notification for one user: only that user's connections subscribed to `notifications`."""
        recipients = self._required_store().user_subscribers(user_id, NOTIFICATIONS)
        return self.deliver(recipients, message, only_user=user_id).delivered

    def publish_portfolio(self, portfolio_id: int, owner_id: int, data: Mapping[str, Any]) -> DeliveryReport:
        recipients = self._required_store().user_subscribers(owner_id, portfolio_topic(portfolio_id))
        message = push(PortfolioPush(portfolio_id=portfolio_id, data=dict(data)))
        return self.deliver(recipients, message, only_user=owner_id)

    def deliver(
        self, recipients: Sequence[Recipient], message: Mapping[str, Any], *, only_user: int | None = None
    ) -> DeliveryReport:
        if only_user is not None:
            # Defence in depth: private data never leaves for a connection of another user.
            recipients = [r for r in recipients if r.user_id == only_user]
        if not recipients:
            return DeliveryReport()
        data = json.dumps(message, separators=(",", ":"), default=str).encode()
        if self._fan_out is not None and len(recipients) > self._chunk_size:
            # Past one chunk, the other chunks go to invocations of their own; this one pushes the first.
            # The hand-off runs beside this invocation's own chunk, not before it: a local fan-out
            # returns when its chunks are pushed, and in AWS the invokes take time of their own.
            first, *rest = chunked(recipients, self._chunk_size)
            handing = self._handoff.submit(self._fan_out.hand_off, [PushChunk.of(c, data, only_user) for c in rest])
            report = self.deliver_serialised(first, data)
            handing.result()  # a failed hand-off still fails the broadcast, after the first chunk is out
            return DeliveryReport(report.delivered, report.gone, report.failed, handed_off=sum(len(c) for c in rest))
        return self.deliver_serialised(recipients, data)

    def deliver_chunk(self, chunk: PushChunk) -> DeliveryReport:
        """Push one chunk handed off by another invocation (its owner check is applied again)."""
        recipients = chunk.recipients()
        if chunk.only_user is not None:
            recipients = [r for r in recipients if r.user_id == chunk.only_user]
        return self.deliver_serialised(recipients, chunk.data.encode())

    def deliver_serialised(self, recipients: Sequence[Recipient], data: bytes) -> DeliveryReport:
        """Post `data` to every recipient in parallel (bounded), deleting connections that are Gone."""
        if not recipients:
            return DeliveryReport()
        if isinstance(self._post, PipelinedPost):
            outcomes = self._send_batches(self._post, recipients, data)
        else:
            outcomes = list(self._pool.map(lambda r: self._send(r, data), recipients))
        gone = [r.connection_id for r, outcome in zip(recipients, outcomes, strict=True) if outcome == "gone"]
        if gone and self._store is not None:
            self._store.remove(gone)
        return DeliveryReport(delivered=outcomes.count("ok"), gone=len(gone), failed=outcomes.count("failed"))

    def _send(self, recipient: Recipient, data: bytes) -> str:
        try:
            self._post(recipient.endpoint, recipient.connection_id, data)
        except ConnectionGone:
            return "gone"
        except Exception as exc:  # one bad connection must not stop the others
            logger.warning(
                "post_to_connection failed", extra={"connection_id": recipient.connection_id, "error": str(exc)}
            )
            return "failed"
        return "ok"

    def _send_batches(self, poster: PipelinedPost, recipients: Sequence[Recipient], data: bytes) -> list[str]:
        """Outcomes in recipient order: each endpoint's recipients cut into batches, one a thread."""
        by_endpoint: dict[str, list[int]] = {}
        for i, r in enumerate(recipients):
            by_endpoint.setdefault(r.endpoint, []).append(i)
        per_batch = -(-len(recipients) // self._max_workers)
        batches = [
            (endpoint, indexes[start : start + per_batch])
            for endpoint, indexes in by_endpoint.items()
            for start in range(0, len(indexes), per_batch)
        ]
        outcomes = ["failed"] * len(recipients)

        def run(batch: tuple[str, list[int]]) -> None:
            endpoint, indexes = batch
            try:
                statuses = poster.post_many(endpoint, [(recipients[i].connection_id, data) for i in indexes])
            except Exception as exc:  # one batch's failure must not stop the others
                logger.warning(
                    "post_to_connection batch failed", extra={"connections": len(indexes), "error": str(exc)}
                )
                return
            for i, status in zip(indexes, statuses, strict=True):
                outcomes[i] = "gone" if status == 410 else "ok" if 0 < status < 300 else "failed"
                if outcomes[i] == "failed":
                    logger.warning(
                        "post_to_connection failed",
                        extra={"connection_id": recipients[i].connection_id, "status": status},
                    )

        list(self._pool.map(run, batches))
        return outcomes

    def close(self) -> None:
        self._handoff.shutdown(wait=True)
        self._pool.shutdown(wait=True)
