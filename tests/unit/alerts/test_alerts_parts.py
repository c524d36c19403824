"""Alert parts without I/O: quiet hours, signed links, webhook URL shapes, message words, settings."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from tidewatch.alerts.channels import VapidKeys
from tidewatch.alerts.destinations import chat_webhook_problem
from tidewatch.alerts.messages import compose
from tidewatch.alerts.outbox import QuietHours
from tidewatch.alerts.settings import AlertsSettings
from tidewatch.alerts.tokens import BadToken, make_token, read_token

KEY = b"k" * 32


def test_quiet_hours_cross_midnight_in_the_users_zone() -> None:
    quiet = QuietHours("America/New_York", time(22, 0), time(7, 0), "critical")
    # 23:30 in New York (04:30 UTC): a warning waits until 07:00 there, a critical goes out
    at = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)
    assert quiet.holds_until("warning", at) == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert quiet.holds_until("critical", at) is None
    # 12:00 in New York: outside the window
    assert quiet.holds_until("info", datetime(2026, 11, 25, 17, 0, tzinfo=UTC)) is None
    # No window: nothing waits
    assert QuietHours("UTC", None, None).holds_until("info", at) is None


def test_signed_links_refuse_forgery_other_purposes_and_age() -> None:
    token = make_token(KEY, "verify-email", 7, "A@Example.com", expires_at=1000)
    claims = read_token(KEY, "verify-email", token, now=999)
    assert claims.destination_id == 7
    for bad_key, purpose, now, text in (
        (b"x" * 32, "verify-email", 999, token),
        (KEY, "unsubscribe", 999, token),
        (KEY, "verify-email", 1001, token),
        (KEY, "verify-email", 999, token + "x"),
        (KEY, "verify-email", 999, "no-dot"),
    ):
        with pytest.raises(BadToken):
            read_token(bad_key, purpose, text, now=now)


@pytest.mark.parametrize(
    ("kind", "url", "ok"),
    [
        ("discord", "https://discord.com/api/webhooks/123456789012345678/" + "a" * 68, True),
        ("discord", "https://discordapp.com/api/v10/webhooks/123456789012345678/" + "a" * 68, True),
        ("discord", "https://discord.com.evil.example/api/webhooks/123456789012345678/" + "a" * 68, False),
        ("discord", "https://user:pw@discord.com/api/webhooks/123456789012345678/" + "a" * 68, False),
        ("discord", "https://discord.com:8443/api/webhooks/123456789012345678/" + "a" * 68, False),
        ("slack", "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/abcdefghijklmnopqrstuvwx", True),
        ("slack", "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/abcdefghijklmnopqrstuvwx?x=1", False),
        ("slack", "https://hooks.slack.com/workflows/T0ABCDEFG/abc", False),
        ("slack", "http://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/abcdefghijklmnopqrstuvwx", False),
    ],
)
def test_chat_webhook_urls_have_the_providers_shapes(kind: str, url: str, ok: bool) -> None:
    assert (chat_webhook_problem(kind, url) is None) is ok


def test_messages_say_what_happened_with_the_numbers() -> None:
    message = compose(
        rule_name="Loan",
        trigger={"type": "risk_forecast_above", "horizon_hours": 24, "threshold": 0.2},
        observed={"trigger_value": 0.31, "at": "2026-11-24T12:00:00+00:00"},
        severity="critical",
        title=None,
        dashboard_url="https://app.example.com/",
        portfolio_id=3,
        forecast=0.31,
    )
    assert message.headline == "Liquidation risk within 24 h is forecast at 31.00 %, above your threshold of 20.00 %."
    assert message.link == "https://app.example.com/portfolios/3"
    assert "<b>Liquidation risk" in message.telegram
    assert message.push["url"] == "https://app.example.com/portfolios/3"


def test_settings_derive_the_telegram_webhook_secret_and_ignore_a_placeholder_vapid_key() -> None:
    settings = AlertsSettings(telegram_bot_token="123:abc", vapid_private_key="unset")
    assert settings.telegram["token"] == "123:abc"
    assert len(settings.telegram["webhook_secret"]) == 64
    assert settings.vapid is None
    keys = VapidKeys.generate("mailto:a@example.com")
    loaded = AlertsSettings(vapid_private_key=keys.private_pem).vapid
    assert loaded is not None
    assert loaded.public_key == keys.public_key
