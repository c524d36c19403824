"""Settings of alert delivery (prefix TIDEWATCH_ALERTS_) and the builders that turn them into parts.

The builders import boto3 / cryptography only for the modes that need them, so a function that
never sends (or the local run) pays nothing for SES or SQS at cold start.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tidewatch.alerts.channels import Channel, ChatWebhook, SesEmail, SmtpEmail, Telegram, VapidKeys, WebPush
from tidewatch.alerts.outbox import DeliveryQueue, DeliveryWorker
from tidewatch.alerts.tokens import derive_key
from tidewatch.db import Database
from tidewatch.rules.egress import EgressPolicy
from tidewatch.secrets import fetch_json_secret, fetch_secret


class AlertsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_ALERTS_", extra="ignore", frozen=True)

    api_url: str = Field(default="http://127.0.0.1:3000", description="Public API base URL (signed links).")
    dashboard_url: str = Field(default="http://127.0.0.1:3000", description="Dashboard base URL (links in alerts).")
    link_key: str = Field(
        default="dev-only-alert-link-key-change-me", min_length=16, description="Key signing verify/unsubscribe links."
    )
    link_key_secret_arn: str | None = Field(default=None, description="Secret holding the link key.")
    email_mode: Literal["smtp", "ses", "off"] = Field(default="smtp", description="How mail is sent.")
    email_sender: str = Field(default="alerts@tidewatch.local", description="From address (an SES identity).")
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server (email_mode=smtp).")
    smtp_port: int = Field(default=2525, ge=1, le=65535, description="SMTP port (email_mode=smtp).")
    ses_configuration_set: str | None = Field(default=None, description="SES configuration set (bounce events).")
    telegram_secret_arn: str | None = Field(
        default=None, description='Secret {"token": bot token, "webhook_secret": setWebhook secret_token}.'
    )
    telegram_bot_token: str | None = Field(default=None, description="Bot token (local run; AWS uses the secret).")
    telegram_webhook_secret: str | None = Field(default=None, description="X-Telegram-Bot-Api-Secret-Token value.")
    telegram_bot_username: str | None = Field(default=None, description="Bot username, for t.me deep links.")
    telegram_api_base: str = Field(default="https://api.telegram.org", description="Bot API base URL.")
    vapid_secret_arn: str | None = Field(default=None, description="Secret holding the VAPID private key (PEM).")
    vapid_private_key: str | None = Field(default=None, description="VAPID private key PEM (local run).")
    vapid_subject: str = Field(default="mailto:alerts@tidewatch.local", description="VAPID contact (RFC 8292).")
    queue_mode: Literal["sqs", "local", "off"] = Field(default="local", description="How deliveries are queued.")
    queue_url: str | None = Field(default=None, description="SQS queue URL (queue_mode=sqs).")
    max_attempts: int = Field(default=8, ge=1, le=30, description="Attempts before a delivery is dead.")
    backoff_seconds: float = Field(default=15.0, gt=0, le=3600, description="First retry delay; doubles.")
    local_workers: int = Field(default=8, ge=1, le=64, description="Sending threads of the local queue.")
    allow_private_targets: bool = Field(
        default=False, description="Discord/Slack/push URLs may resolve to private addresses (local run only)."
    )
    chat_webhook_hosts: list[str] = Field(
        default_factory=list,
        description="Extra host:port accepted as Discord/Slack webhook hosts (local receivers only).",
    )

    @cached_property
    def link_signing_key(self) -> bytes:
        master = fetch_secret(self.link_key_secret_arn) if self.link_key_secret_arn else self.link_key
        return derive_key(master.encode())

    @cached_property
    def telegram(self) -> Mapping[str, str]:
        """{"token", "webhook_secret"} or empty when Telegram is not configured."""
        if self.telegram_secret_arn:
            return {k: str(v) for k, v in fetch_json_secret(self.telegram_secret_arn).items()}
        if not self.telegram_bot_token:
            return {}
        secret = (
            self.telegram_webhook_secret
            or hmac.new(self.telegram_bot_token.encode(), b"tidewatch-telegram-webhook", hashlib.sha256).hexdigest()
        )
        return {"token": self.telegram_bot_token, "webhook_secret": secret}

    @cached_property
    def vapid(self) -> VapidKeys | None:
        pem = fetch_secret(self.vapid_secret_arn) if self.vapid_secret_arn else self.vapid_private_key
        # The stack creates the secret as a placeholder until the operator stores a key.
        return VapidKeys.from_pem(pem, self.vapid_subject) if pem and "PRIVATE KEY-----" in pem else None

    def egress(self) -> EgressPolicy:
        return EgressPolicy(allow_private=self.allow_private_targets)


def email_channel(settings: AlertsSettings, *, ses_client: Any = None) -> Channel | None:
    if settings.email_mode == "off":
        return None
    if settings.email_mode == "ses":
        if ses_client is None:
            import boto3

            ses_client = boto3.client("sesv2")
        return SesEmail(ses_client, sender=settings.email_sender, configuration_set=settings.ses_configuration_set)
    return SmtpEmail(settings.smtp_host, settings.smtp_port, sender=settings.email_sender)


def telegram_channel(settings: AlertsSettings) -> Telegram | None:
    token = settings.telegram.get("token")
    return Telegram(token, api_base=settings.telegram_api_base) if token else None


def channels(settings: AlertsSettings, *, ses_client: Any = None) -> dict[str, Channel]:
    egress = settings.egress()
    found: dict[str, Channel | None] = {
        "email": email_channel(settings, ses_client=ses_client),
        "telegram": telegram_channel(settings),
        "discord": ChatWebhook(egress),
        "slack": ChatWebhook(egress),
        "webpush": WebPush(settings.vapid, egress) if settings.vapid else None,
    }
    return {kind: channel for kind, channel in found.items() if channel is not None}


def delivery_worker(database: Database, settings: AlertsSettings, *, ses_client: Any = None) -> DeliveryWorker:
    from tidewatch.alerts.destinations import DestinationService
    from tidewatch.alerts.repository import PostgresDeliveries, PostgresDestinations

    links = DestinationService(PostgresDestinations(database), destination_settings(settings), egress=settings.egress())
    return DeliveryWorker(
        PostgresDeliveries(database),
        channels(settings, ses_client=ses_client),
        unsubscribe_link=links.unsubscribe_link,
        max_attempts=settings.max_attempts,
        backoff_base_seconds=settings.backoff_seconds,
    )


def destination_settings(settings: AlertsSettings) -> Any:
    from tidewatch.alerts.destinations import DestinationSettings

    return DestinationSettings(
        link_key=settings.link_signing_key,
        api_url=settings.api_url,
        telegram_bot_username=settings.telegram_bot_username,
        chat_webhook_extra_hosts=frozenset(h.lower() for h in settings.chat_webhook_hosts),
    )


_LOCAL_QUEUES: dict[str, Any] = {}


def delivery_queue(database: Database, settings: AlertsSettings, *, sqs_client: Any = None) -> DeliveryQueue | None:
    """SQS in AWS; locally one in-process threaded queue per database (shared by api and rules)."""
    if settings.queue_mode == "off":
        return None
    if settings.queue_mode == "sqs":
        from tidewatch.alerts.outbox import SqsDeliveryQueue

        if not settings.queue_url:
            raise ValueError("TIDEWATCH_ALERTS_QUEUE_URL is required when TIDEWATCH_ALERTS_QUEUE_MODE=sqs")
        if sqs_client is None:
            import boto3

            sqs_client = boto3.client("sqs")
        return SqsDeliveryQueue(sqs_client, settings.queue_url)
    from tidewatch.alerts.outbox import ThreadDeliveryQueue

    queue = _LOCAL_QUEUES.get(database.url)
    if queue is None:
        queue = ThreadDeliveryQueue(delivery_worker(database, settings), workers=settings.local_workers)
        _LOCAL_QUEUES[database.url] = queue
    return queue
