"""What an alert says: plain words with the numbers, rendered once per firing for every channel.

One `AlertMessage` carries the subject, a plain-text and an HTML body (email), a short text for
chats (Telegram HTML, Discord/Slack markdown-free text) and the Web Push JSON the service worker
shows. The words come from the rule's trigger: the value seen, the threshold, the forecast, and
links to the position and to the prepared transaction when the firing prepared one.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from string import Template
from typing import Any

SEVERITIES = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


@dataclass(frozen=True)
class AlertMessage:
    subject: str
    headline: str  # one sentence: what happened, with the numbers
    details: tuple[str, ...]  # further plain sentences
    severity: str
    link: str | None  # the position (or market) in the dashboard
    transaction_link: str | None  # the prepared transaction to sign, if any

    @property
    def text(self) -> str:
        lines = [self.headline, "", *self.details]
        if self.link:
            lines += ["", f"Open the position: {self.link}"]
        if self.transaction_link:
            lines += [f"Review and sign the prepared transaction: {self.transaction_link}"]
        return "\n".join(lines).strip() + "\n"

    @property
    def html(self) -> str:
        details = "".join(f"<p>{html.escape(d)}</p>" for d in self.details)
        links = ""
        if self.link:
            links += f'<p><a href="{html.escape(self.link)}">Open the position</a></p>'
        if self.transaction_link:
            links += (
                f'<p><a href="{html.escape(self.transaction_link)}">Review and sign the prepared transaction</a></p>'
            )
        return _HTML.substitute(
            subject=html.escape(self.subject),
            colour=_COLOURS.get(self.severity, "#b45309"),
            severity=html.escape(self.severity.upper()),
            headline=html.escape(self.headline),
            details=details,
            links=links,
        )

    @property
    def chat(self) -> str:
        """Discord / Slack: plain text, links written out."""
        return self.text.strip()

    @property
    def telegram(self) -> str:
        """Telegram `parse_mode: HTML`: escaped text, links as anchors."""
        parts = [f"<b>{html.escape(self.headline)}</b>", *[html.escape(d) for d in self.details]]
        if self.link:
            parts.append(f'<a href="{html.escape(self.link)}">Open the position</a>')
        if self.transaction_link:
            parts.append(f'<a href="{html.escape(self.transaction_link)}">Sign the prepared transaction</a>')
        return "\n".join(parts)

    @property
    def push(self) -> dict[str, Any]:
        """What the service worker shows (`showNotification(title, {body, data})`)."""
        return {
            "title": self.subject,
            "body": self.headline,
            "severity": self.severity,
            "url": self.transaction_link or self.link,
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = list(self.details)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertMessage:
        return cls(
            subject=str(data["subject"]),
            headline=str(data["headline"]),
            details=tuple(str(d) for d in data.get("details", ())),
            severity=str(data.get("severity", "warning")),
            link=data.get("link"),
            transaction_link=data.get("transaction_link"),
        )


_COLOURS = {"info": "#2563eb", "warning": "#b45309", "critical": "#b91c1c"}

_HTML = Template(
    """<!doctype html><html><head><meta charset="utf-8"><title>$subject</title></head>
<body style="font-family:system-ui,sans-serif;max-width:560px;margin:auto;color:#111">
<p style="color:$colour;font-weight:600;letter-spacing:.05em">$severity</p>
<h2 style="font-size:18px">$headline</h2>
$details
$links
<p style="color:#666;font-size:12px">You get this because a Tidewatch rule of yours fired.</p>
</body></html>"""
)


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def compose(
    *,
    rule_name: str,
    trigger: Mapping[str, Any],
    observed: Mapping[str, Any],
    severity: str,
    title: str | None,
    dashboard_url: str,
    portfolio_id: int | None,
    transaction_id: str | None = None,
    forecast: float | None = None,
) -> AlertMessage:
    """The message for one firing of a rule whose trigger (as stored) and observation are given."""
    kind = str(trigger.get("type", ""))
    value = _number(observed.get("trigger_value"))
    threshold = _number(trigger.get("threshold"))
    base = dashboard_url.rstrip("/")
    link = f"{base}/portfolios/{portfolio_id}" if portfolio_id is not None else None
    details: list[str] = []
    if kind == "health_factor_below":
        headline = (
            f"Health factor {value:.3f} is below your threshold of {threshold:.2f}."
            if value is not None and threshold is not None
            else "Your health factor fell below your threshold."
        )
        details.append("At a health factor of 1.0 the position can be liquidated.")
    elif kind == "risk_forecast_above":
        hours = int(trigger.get("horizon_hours", 24))
        headline = (
            f"Liquidation risk within {hours} h is forecast at {_pct(value)}, above your threshold of {_pct(threshold)}."
            if value is not None and threshold is not None
            else f"The liquidation-risk forecast for the next {hours} h passed your threshold."
        )
    elif kind in ("market_apy", "apy_spread"):
        what = "APY" if kind == "market_apy" else "APY spread"
        side = str(trigger.get("side", "supply"))
        op = str(trigger.get("op", "above"))
        headline = (
            f"The {side} {what} of market {trigger.get('market_id')} is {_pct(value)}, {op} your threshold of {_pct(threshold)}."
            if value is not None and threshold is not None
            else f"The {side} {what} of market {trigger.get('market_id')} crossed your threshold."
        )
        link = link or f"{base}/markets/{trigger.get('market_id')}"
    elif kind == "price_change":
        window = int(trigger.get("window_seconds", 3600))
        headline = (
            f"{trigger.get('asset')} moved {value * 100:+.2f} % in {window // 60} min "
            f"(your threshold: {_pct(threshold)})."
            if value is not None and threshold is not None
            else f"{trigger.get('asset')} moved past your threshold."
        )
    else:
        headline = f"Your rule '{rule_name}' fired."
    if forecast is not None:
        details.append(f"Forecast liquidation probability within 24 h: {_pct(forecast)}.")
    details.append(f"Rule: {rule_name}. Seen at {observed.get('at', 'the last check')}.")
    transaction_link = f"{base}/transactions/{transaction_id}" if transaction_id else None
    if transaction_link:
        details.append("A transaction that brings the position back to safety is prepared for your wallet.")
    subject = f"[Tidewatch] {title or headline}"[:150]
    return AlertMessage(subject, headline, tuple(details), severity, link, transaction_link)
