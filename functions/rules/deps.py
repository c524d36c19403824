"""Collaborators of the rules function, built once per container.

Risk triggers are scored by the risk function and prepare-transaction actions go to the wallet
function, each through its client in the core (`tidewatch.forecast.client`,
`tidewatch.transactions.client`); without them (tests) those triggers see no data and those actions report "not
configured". Shards of a tick go to the SQS shard queue when one is configured (AWS), else run
concurrently in this process through the shard handler.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tidewatch import runtime
from tidewatch.cache import RedisClient
from tidewatch.db import Database
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.settings import LiveSettings, broadcaster_from_settings
from tidewatch.rules.actions import ActionRunner, AlertSink, TransactionPreparer
from tidewatch.rules.settings import RulesSettings, signing_key
from tidewatch.rules.shard_dispatch import InlineShardDispatcher, ShardDispatcher, ShardRunner, SqsShardDispatcher
from tidewatch.rules.shard_store import ShardRuleCaches
from tidewatch.rules.shard_tick import run_shard
from tidewatch.rules.sharding import ShardMessage
from tidewatch.rules.snapshot import RiskScorer
from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource
from tidewatch.rules.tick import TickSources
from tidewatch.rules.webhooks import WebhookSender


@dataclass(frozen=True)
class RulesDeps:
    database: Database
    sources: TickSources
    runner: ActionRunner
    webhooks: WebhookSender
    broadcaster: Broadcaster | None
    dispatcher: ShardDispatcher
    redis: RedisClient | None = None
    max_rules_per_shard: int = 100_000
    shard_caches: ShardRuleCaches = field(default_factory=ShardRuleCaches)


def build_deps(
    database: Database,
    *,
    settings: RulesSettings,
    broadcaster: Broadcaster | None,
    risk: RiskScorer | None = None,
    preparer: TransactionPreparer | None = None,
    redis: RedisClient | None = None,
    shard_runner: ShardRunner | None = None,
    alerts: AlertSink | None = None,
) -> RulesDeps:
    """The collaborators; shards go to SQS when a queue is configured, else run on threads here.

    `shard_runner` runs one shard message for the in-process dispatcher (the local run passes the
    shard handler's SQS round trip); by default it calls the shard logic directly.
    """
    webhooks = WebhookSender(
        database,
        signing_key(settings),
        max_attempts=settings.webhook_max_attempts,
        backoff_base_seconds=settings.webhook_backoff_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private_targets=settings.webhook_allow_private_targets,
    )
    runner = ActionRunner(
        database,
        pusher=broadcaster,
        preparer=preparer,
        webhooks=webhooks,
        attempts=settings.action_attempts,
        backoff_seconds=settings.action_backoff_seconds,
        max_workers=settings.action_workers,
        alerts=alerts,
    )
    sources = TickSources(PostgresMarketSource(database), SnapshotPositionSource(database), risk)
    caches = ShardRuleCaches()

    def direct(message: ShardMessage) -> dict[str, Any]:
        return run_shard(message, database=database, sources=sources, runner=runner, caches=caches, redis=redis)

    dispatcher: ShardDispatcher = (
        SqsShardDispatcher(settings.shard_queue_url)
        if settings.shard_queue_url
        else InlineShardDispatcher(shard_runner or direct, max_workers=settings.shard_workers)
    )
    return RulesDeps(
        database,
        sources,
        runner,
        webhooks,
        broadcaster,
        dispatcher=dispatcher,
        redis=redis,
        max_rules_per_shard=settings.shard_max_rules,
        shard_caches=caches,
    )


def with_dispatcher(deps: RulesDeps, dispatcher: ShardDispatcher) -> RulesDeps:
    return dataclasses.replace(deps, dispatcher=dispatcher)


@lru_cache(maxsize=1)
def production_deps() -> RulesDeps:
    database = runtime.database()
    live = LiveSettings()
    broadcaster = broadcaster_from_settings(database, live)
    return build_deps(
        database,
        settings=RulesSettings(),
        broadcaster=broadcaster,
        risk=risk_scorer(database),
        preparer=transaction_preparer(),
        redis=_optional_redis(),
        shard_runner=through_shard_handler,
        alerts=alert_dispatcher(database),
    )


def alert_dispatcher(database: Database) -> AlertSink:
    """Deliver actions write the outbox and queue the ids (SQS in AWS, the in-process queue locally)."""
    from tidewatch.alerts.action import AlertDispatcher
    from tidewatch.alerts.outbox import Outbox
    from tidewatch.alerts.settings import AlertsSettings, delivery_queue

    settings = AlertsSettings()
    return AlertDispatcher(
        database, Outbox(database, delivery_queue(database, settings)), dashboard_url=settings.dashboard_url
    )


def _optional_redis() -> RedisClient | None:
    try:
        return runtime.redis_client()
    except Exception as exc:  # without Redis each shard reads the markets itself
        from tidewatch.observability import logger

        logger.warning("rules: no Redis for the shared market snapshot", extra={"error": str(exc)})
        return None


def through_shard_handler(message: ShardMessage) -> dict[str, Any]:
    """One shard through the shard handler, as an SQS record (the in-process run of AWS's path)."""
    from rules.handler import shard_handler
    from tidewatch.invoke import lambda_context

    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "local",
        "body": message.model_dump_json(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:tidewatch-local-rule-shards",
        "awsRegion": "us-east-1",
    }
    event = json.loads(json.dumps({"Records": [record]}))
    answer = shard_handler(event, lambda_context("rules-shard"))
    if answer.get("batchItemFailures"):
        raise RuntimeError(f"shard {message.shard.key} failed in its handler")
    return dict(answer.get("reports", [{}])[0])


def transaction_preparer() -> TransactionPreparer:
    """Prepare-transaction actions go to the wallet function (its handler locally, Lambda in AWS)."""
    from tidewatch.rules.actions import PreparedTransaction
    from tidewatch.transactions.client import RulesTransactionPreparer, production_wallet_client

    return RulesTransactionPreparer(production_wallet_client(), PreparedTransaction)


def risk_scorer(database: Database) -> RiskScorer:
    """Risk triggers score every watched portfolio in batched calls to the risk function."""
    from tidewatch.forecast.client import production_risk_client
    from tidewatch.portfolios.risk_requests import snapshot_risk_payloads
    from tidewatch.rules.risk_scoring import BatchRiskScorer

    return BatchRiskScorer(
        lambda portfolio_ids: snapshot_risk_payloads(database, portfolio_ids), production_risk_client()
    )
