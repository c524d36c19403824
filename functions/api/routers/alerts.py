"""Alert routes, bound to the API's auth, rate limit and the alerts service (built on first use)."""

from __future__ import annotations

from fastapi import Depends, Request

from api.routes_alerts import TelegramBot, create_router
from api.security import current_claims, limit_by_ip
from tidewatch.alerts.destinations import DestinationService
from tidewatch.alerts.settings import AlertsSettings


def _settings(request: Request) -> AlertsSettings:
    state = request.app.state
    if getattr(state, "alerts_settings", None) is None:
        state.alerts_settings = AlertsSettings()
    settings: AlertsSettings = state.alerts_settings
    return settings


def alerts_service(request: Request) -> DestinationService:
    state = request.app.state
    if getattr(state, "alerts_service", None) is None:
        from tidewatch.alerts.outbox import Outbox
        from tidewatch.alerts.settings import delivery_queue, destination_settings, email_channel

        settings = _settings(request)
        database = state.deps.database
        state.alerts_service = DestinationService(
            database,
            destination_settings(settings),
            egress=settings.egress(),
            email=email_channel(settings),
            outbox=Outbox(database, delivery_queue(database, settings)),
        )
    service: DestinationService = state.alerts_service
    return service


def telegram_bot(request: Request) -> TelegramBot | None:
    from tidewatch.alerts.settings import telegram_channel

    settings = _settings(request)
    channel = telegram_channel(settings)
    if channel is None:
        return None
    return TelegramBot(settings.telegram["webhook_secret"], channel.send_text)


def push_key(request: Request) -> str | None:
    vapid = _settings(request).vapid
    return vapid.public_key if vapid else None


router = create_router(
    authenticate=current_claims,
    service=alerts_service,
    telegram=telegram_bot,
    push_key=push_key,
    dependencies=[Depends(limit_by_ip)],
)
