"""Collaborators of the rules function, built once per container.

The lead wires the real RiskScorer (BatchRiskScorer over the risk function) and TransactionPreparer
(the wallet function) here once those functions exist; until then those actions/triggers report
"not configured" and risk triggers see no data (never fire).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tidewatch import runtime
from tidewatch.db import Database
from tidewatch.live.broadcaster import Broadcaster
from tidewatch.live.connections import ConnectionStore
from tidewatch.live.settings import LiveSettings, poster_from_settings
from tidewatch.rules.actions import ActionRunner, AlertSink, TransactionPreparer
from tidewatch.rules.settings import RulesSettings
from tidewatch.rules.snapshot import RiskScorer
from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource
from tidewatch.rules.store import RuleCache
from tidewatch.rules.tick import TickSources
from tidewatch.rules.webhooks import WebhookSender
from tidewatch.secrets import fetch_secret


@dataclass(frozen=True)
class RulesDeps:
    database: Database
    sources: TickSources
    runner: ActionRunner
    webhooks: WebhookSender
    broadcaster: Broadcaster | None
    rule_cache: RuleCache = field(default_factory=RuleCache)


def signing_key(settings: RulesSettings) -> bytes:
    if settings.webhook_signing_key_secret_arn:
        return fetch_secret(settings.webhook_signing_key_secret_arn).encode()
    return settings.webhook_signing_key.encode()


def build_deps(
    database: Database,
    *,
    settings: RulesSettings,
    broadcaster: Broadcaster | None,
    risk: RiskScorer | None = None,
    preparer: TransactionPreparer | None = None,
    alerts: AlertSink | None = None,
) -> RulesDeps:
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
    return RulesDeps(database, sources, runner, webhooks, broadcaster)


@lru_cache(maxsize=1)
def production_deps() -> RulesDeps:
    database = runtime.database()
    live = LiveSettings()
    poster = poster_from_settings(live)
    broadcaster = Broadcaster(ConnectionStore(database), poster, max_workers=live.broadcast_workers)
    return build_deps(
        database,
        settings=RulesSettings(),
        broadcaster=broadcaster,
        risk=risk_scorer(database),
        preparer=transaction_preparer(),
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


def transaction_preparer() -> TransactionPreparer:
    """Prepare-transaction actions go to the wallet function (in-process locally, Lambda in AWS)."""
    from tidewatch.rules.actions import PreparedTransaction
    from tidewatch.settings import FunctionsSettings
    from tidewatch.transactions.client import RulesTransactionPreparer, wallet_client_from_settings

    functions = FunctionsSettings()

    def in_process() -> Any:
        from wallet.deps import wallet_service

        return wallet_service()

    client = wallet_client_from_settings(functions.invoke_mode, functions.wallet_function_name, in_process)
    return RulesTransactionPreparer(client, PreparedTransaction)


def risk_scorer(database: Database) -> RiskScorer:
    """Risk triggers score every watched portfolio in batched calls to the risk function."""
    from tidewatch.invoke import invoker_from_settings
    from tidewatch.portfolios.risk_requests import snapshot_risk_payloads
    from tidewatch.rules.risk_scoring import BatchRiskScorer
    from tidewatch.settings import FunctionsSettings

    invoker = invoker_from_settings(FunctionsSettings())
    return BatchRiskScorer(
        lambda portfolio_ids: snapshot_risk_payloads(database, portfolio_ids),
        lambda payload: invoker.invoke("risk", dict(payload)),
    )
