"""Handing shard messages to their invocations: an SQS queue in AWS, a thread pool locally.

In AWS each message becomes one invocation of the rules-shard function (SQS event source with
partial-batch failure reporting, redrive to a dead-letter queue after repeated failures). The
local run and the tests run the same shard handler concurrently on threads, each message through
the JSON round trip an SQS message takes, so the code path is the one AWS runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from tidewatch.observability import logger
from tidewatch.rules.sharding import ShardMessage

# Runs one shard message; returns the shard's report or raises.
ShardRunner = Callable[[ShardMessage], dict[str, Any]]


@dataclass(frozen=True)
class DispatchOutcome:
    queued: int = 0
    reports: list[dict[str, Any]] = field(default_factory=list)  # inline dispatch only
    failed: list[str] = field(default_factory=list)  # shard keys that failed every attempt


class ShardDispatcher(Protocol):
    def dispatch(self, messages: Sequence[ShardMessage]) -> DispatchOutcome: ...


def message_body(message: ShardMessage) -> str:
    return message.model_dump_json()


class SqsShardDispatcher:
    """`SendMessageBatch` in groups of ten (SQS's limit); any refused entry fails the dispatch.

    A failed dispatch fails the coordinating invocation, so EventBridge retries it; shards that
    were already queued then run twice, which their (rule, window) claims make harmless.
    """

    def __init__(self, queue_url: str, *, client: Any = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3  # only the deployed coordinator pays for boto3

            self._client = boto3.client("sqs")
        return self._client

    def dispatch(self, messages: Sequence[ShardMessage]) -> DispatchOutcome:
        sqs = self._sqs()
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            answer = sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": message_body(m)} for i, m in enumerate(batch)],
            )
            if answer.get("Failed"):
                reasons = "; ".join(f"{f.get('Code')}: {f.get('Message', '')}" for f in answer["Failed"])
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} shard message(s): {reasons}")
        return DispatchOutcome(queued=len(messages))


class InlineShardDispatcher:
    """Runs every shard concurrently on up to `max_workers` threads and waits for all of them.

    A failing shard is retried up to `attempts` times; it never stops the other shards. Each
    message is serialised and parsed again first, as SQS would carry it.
    """

    def __init__(self, run: ShardRunner, *, max_workers: int = 4, attempts: int = 2) -> None:
        self._run = run
        self._max_workers = max_workers
        self._attempts = attempts

    def _run_one(self, message: ShardMessage) -> dict[str, Any] | None:
        carried = ShardMessage.model_validate(json.loads(message_body(message)))
        for attempt in range(1, self._attempts + 1):
            try:
                return self._run(carried)
            except Exception as exc:  # one shard's failure must not stop the others
                logger.warning(
                    "rules shard failed",
                    extra={"shard": message.shard.key, "attempt": attempt, "error": str(exc)},
                )
        return None

    def dispatch(self, messages: Sequence[ShardMessage]) -> DispatchOutcome:
        if not messages:
            return DispatchOutcome()
        workers = max(1, min(self._max_workers, len(messages)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rules-shard") as pool:
            results = list(pool.map(self._run_one, messages))
        return DispatchOutcome(
            reports=[r for r in results if r is not None],
            failed=[m.shard.key for m, r in zip(messages, results, strict=True) if r is None],
        )
