"""The channels an alert goes out on: email (SES or SMTP), Telegram, Discord, Slack, Web Push.

Each channel sends one message to one destination and classifies the provider's answer:
`delivered`, `retry` (5xx, timeouts, rate limits — with the provider's own wait when it gives one:
Telegram's `parameters.retry_after`, Discord's and Slack's `Retry-After`, Web Push's `Retry-After`)
or `failed` (no retry can help: a blocked bot, an unknown webhook, an expired push subscription, a
hard-bounced address). A failed answer may also say the destination is gone (`disable`) or the
address must never be mailed again (`suppress`).

Every HTTP request goes through the one egress policy (`tidewatch.rules.egress`): the URL is
checked, the request goes to the checked address and redirects are not followed. Domain code here
takes its collaborators (an SES client, an SMTP factory, the POST function) as arguments.
"""

from __future__ import annotations

import base64
import json
import os
import smtplib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from tidewatch.alerts.messages import AlertMessage
from tidewatch.rules.egress import BlockedTarget, EgressPolicy, HttpAnswer, HttpPost, pinned_post

Outcome = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class Destination:
    id: int
    user_id: int
    kind: str  # email | telegram | discord | slack | webpush
    label: str
    target: str
    secret: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendContext:
    delivery_id: int
    unsubscribe_url: str | None = None  # email only: the one-click link (RFC 8058)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    response_code: int | None = None
    response: str = ""
    retry_after: float | None = None  # seconds the provider asked us to wait
    disable: str | None = None  # the destination is gone: why
    suppress: str | None = None  # the email address must not be mailed again: bounce | complaint


class Channel(Protocol):
    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult: ...


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _short(body: bytes) -> str:
    return body[:500].decode("utf-8", "replace")


def _http_send(
    post: HttpPost, egress: EgressPolicy, url: str, payload: bytes, headers: Mapping[str, str], timeout: float
) -> HttpAnswer | SendResult:
    """POST through the egress policy; a refused target is `failed`, a network error `retry`."""
    try:
        target = egress.check(url)
        return post(target, payload, headers, timeout)
    except BlockedTarget as exc:
        return SendResult("failed", None, f"blocked: {exc}")
    except OSError as exc:
        return SendResult("retry", None, f"{type(exc).__name__}: {exc}"[:300])


def _classify_http(answer: HttpAnswer, *, gone: tuple[int, ...] = (404, 410)) -> SendResult:
    code = answer.status
    text = _short(answer.body)
    if 200 <= code < 300:
        return SendResult("delivered", code, text)
    if 300 <= code < 400:
        return SendResult("failed", code, f"redirect to {answer.location or '?'} not followed")
    if code == 429:
        return SendResult("retry", code, text, retry_after=_retry_after(answer.header("Retry-After")))
    if code >= 500 or code == 408:
        return SendResult("retry", code, text, retry_after=_retry_after(answer.header("Retry-After")))
    if code in gone:
        return SendResult("failed", code, text, disable=f"the provider answered HTTP {code}")
    return SendResult("failed", code, text)


# ---------------------------------------------------------------- email


def build_email(
    message: AlertMessage, *, sender: str, to: str, unsubscribe_url: str | None, message_id_domain: str
) -> EmailMessage:
    """A multipart/alternative mail (text + HTML) with the one-click unsubscribe headers."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = formataddr(("Tidewatch alerts", sender))
    mail["To"] = to
    mail["Message-ID"] = make_msgid(domain=message_id_domain)
    text, html = message.text, message.html
    if unsubscribe_url:
        # RFC 2369 + RFC 8058: mail clients show an unsubscribe button that POSTs without a login.
        mail["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text += f"\n\nStop these emails: {unsubscribe_url}\n"
        html += f'<p style="color:#666;font-size:12px"><a href="{unsubscribe_url}">Unsubscribe</a></p>'
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


class SmtpEmail:
    """Email over SMTP (the local run's aiosmtpd server, or any relay)."""

    def __init__(self, host: str, port: int, *, sender: str, timeout: float = 10.0) -> None:
        self._host, self._port, self._sender, self._timeout = host, port, sender, timeout

    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult:
        mail = build_email(
            message,
            sender=self._sender,
            to=destination.target,
            unsubscribe_url=context.unsubscribe_url,
            message_id_domain=self._sender.rpartition("@")[2] or "tidewatch.local",
        )
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            text = f"{code} {reason.decode('utf-8', 'replace') if isinstance(reason, bytes) else reason}"
            if 500 <= code < 600:  # a hard bounce at the receiving server
                return SendResult("failed", code, text, suppress="bounce")
            return SendResult("retry", code, text)
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            text = f"{exc.smtp_code} {error.decode('utf-8', 'replace') if isinstance(error, bytes) else error}"
            return SendResult("failed" if 500 <= exc.smtp_code < 600 else "retry", exc.smtp_code, text)
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult("retry", None, f"{type(exc).__name__}: {exc}"[:300])
        if refused:
            return SendResult("failed", 550, str(refused)[:300], suppress="bounce")
        return SendResult("delivered", 250, f"accepted {mail['Message-ID']}")


_SES_RETRY = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
_SES_RETRY |= {"SendingPausedException", "InternalFailure", "ServiceUnavailable"}


class SesEmail:
    """Email through Amazon SES v2 (`sesv2.send_email`, raw MIME so the unsubscribe headers go along).

    `client` is a boto3 `sesv2` client; an address SES reports as bounced or complained arrives
    later as an SNS notification (`tidewatch.alerts.destinations.apply_ses_notification`).
    """

    def __init__(self, client: Any, *, sender: str, configuration_set: str | None = None) -> None:
        self._client, self._sender, self._configuration_set = client, sender, configuration_set

    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult:
        mail = build_email(
            message,
            sender=self._sender,
            to=destination.target,
            unsubscribe_url=context.unsubscribe_url,
            message_id_domain=self._sender.rpartition("@")[2],
        )
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [destination.target]},
            "Content": {"Raw": {"Data": mail.as_bytes()}},
            "EmailTags": [{"Name": "delivery", "Value": str(context.delivery_id)}],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            answer = self._client.send_email(**request)
        except Exception as exc:  # botocore ClientError / EndpointConnectionError, classified by code
            error = getattr(exc, "response", {}).get("Error", {})
            code = str(error.get("Code", type(exc).__name__))
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = f"{code}: {error.get('Message', exc)}"[:300]
            if code in _SES_RETRY or not error:
                return SendResult("retry", status, text)
            return SendResult("failed", status, text)
        return SendResult("delivered", 200, f"MessageId {answer.get('MessageId')}")


# ---------------------------------------------------------------- Telegram


class Telegram:
    """Telegram Bot API `sendMessage` (https://core.telegram.org/bots/api#sendmessage)."""

    def __init__(
        self,
        token: str,
        *,
        api_base: str = "https://api.telegram.org",
        egress: EgressPolicy | None = None,
        post: HttpPost = pinned_post,
        timeout: float = 10.0,
    ) -> None:
        self._token, self._base = token, api_base.rstrip("/")
        # The Bot API's address is the operator's setting, not a user's: private targets are fine.
        self._egress = egress if egress is not None else EgressPolicy(allow_private=True)
        self._post, self._timeout = post, timeout

    def send_text(self, chat_id: str, text: str) -> SendResult:
        body = {
            "chat_id": chat_id,
            "text": text[:4096],
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        answer = _http_send(
            self._post,
            self._egress,
            f"{self._base}/bot{self._token}/sendMessage",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
            self._timeout,
        )
        if isinstance(answer, SendResult):
            return answer
        try:
            parsed = json.loads(answer.body or b"{}")
        except ValueError:
            parsed = {}
        text_answer = _short(answer.body)
        if answer.status == 200 and parsed.get("ok") is True:
            message_id = parsed.get("result", {}).get("message_id")
            return SendResult("delivered", 200, f"message_id {message_id}")
        retry_after = (parsed.get("parameters") or {}).get("retry_after")
        if answer.status == 429:
            return SendResult("retry", 429, text_answer, retry_after=float(retry_after) if retry_after else None)
        if answer.status == 403:  # "Forbidden: bot was blocked by the user" / "user is deactivated"
            return SendResult("failed", 403, text_answer, disable=str(parsed.get("description", "bot blocked")))
        if answer.status == 400 and "chat not found" in str(parsed.get("description", "")):
            return SendResult("failed", 400, text_answer, disable="chat not found")
        return _classify_http(answer, gone=())

    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult:
        return self.send_text(destination.target, message.telegram)


# ---------------------------------------------------------------- Discord and Slack


class ChatWebhook:
    """Discord and Slack incoming webhooks (the URL is the user's; the egress policy guards it)."""

    def __init__(self, egress: EgressPolicy, *, post: HttpPost = pinned_post, timeout: float = 10.0) -> None:
        self._egress, self._post, self._timeout = egress, post, timeout

    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult:
        if destination.kind == "discord":
            # No @everyone / role pings from alert text; `wait=true` returns the created message.
            payload = {"content": message.chat[:2000], "allowed_mentions": {"parse": []}}
            url = destination.target + ("&" if "?" in destination.target else "?") + "wait=true"
        else:
            payload = {"text": message.chat[:3000]}
            url = destination.target
        answer = _http_send(
            self._post,
            self._egress,
            url,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", "User-Agent": "Tidewatch-Alerts/1"},
            self._timeout,
        )
        if isinstance(answer, SendResult):
            return answer
        result = _classify_http(answer)
        if answer.status == 429 and result.retry_after is None and destination.kind == "discord":
            try:  # Discord also states the wait in the JSON body
                wait = json.loads(answer.body).get("retry_after")
                return SendResult("retry", 429, result.response, retry_after=float(wait))
            except (ValueError, TypeError, AttributeError):
                return result
        if destination.kind == "slack" and answer.status in (403, 404, 410):
            # no_service, channel_not_found, channel_is_archived, action_prohibited: the hook is gone
            return SendResult("failed", answer.status, result.response, disable=result.response or "hook gone")
        return result


# ---------------------------------------------------------------- Web Push


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class VapidKeys:
    """The application server's P-256 key pair (RFC 8292): the private key as PEM, the public key
    as the base64url uncompressed point the browser's `applicationServerKey` takes."""

    private_pem: str
    public_key: str
    subject: str  # mailto: or https: contact for the push service

    @classmethod
    def generate(cls, subject: str) -> VapidKeys:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cls.from_pem(pem, subject)

    @classmethod
    def from_pem(cls, pem: str, subject: str) -> VapidKeys:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the VAPID key must be a P-256 private key")
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return cls(pem, b64url(public), subject)

    @property
    def public_pem(self) -> str:
        """The public key as PEM (what a receiver verifies the VAPID JWT with)."""
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        return (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def authorization(self, endpoint: str, *, now: float, ttl_seconds: int = 12 * 3600) -> str:
        """`Authorization: vapid t=<ES256 JWT>, k=<public key>` for the endpoint's origin (RFC 8292)."""
        import jwt

        parts = urlsplit(endpoint)
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(now) + ttl_seconds, "sub": self.subject}
        token = jwt.encode(claims, self.private_pem, algorithm="ES256")
        return f"vapid t={token}, k={self.public_key}"


def encrypt_push(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The `aes128gcm` body of RFC 8291: ECDH with the subscription's key, a fresh sender key and salt."""
    import http_ece
    from cryptography.hazmat.primitives.asymmetric import ec

    sender = ec.generate_private_key(ec.SECP256R1())
    encrypted: bytes = http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=sender,
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aes128gcm",
    )
    return encrypted


class WebPush:
    """Browser push (RFC 8030) with VAPID (RFC 8292) and message encryption (RFC 8291)."""

    def __init__(
        self,
        keys: VapidKeys,
        egress: EgressPolicy,
        *,
        post: HttpPost = pinned_post,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys, self._egress, self._post, self._timeout, self._clock = keys, egress, post, timeout, clock

    def send(self, destination: Destination, message: AlertMessage, context: SendContext) -> SendResult:
        body = encrypt_push(
            json.dumps(message.push, separators=(",", ":")).encode(),
            p256dh=str(destination.secret.get("p256dh", "")),
            auth=str(destination.secret.get("auth", "")),
        )
        headers = {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": "86400",
            "Urgency": "high" if message.severity == "critical" else "normal",
            "Topic": f"d{context.delivery_id}"[:32],
            "Authorization": self._keys.authorization(destination.target, now=self._clock()),
        }
        answer = _http_send(self._post, self._egress, destination.target, body, headers, self._timeout)
        if isinstance(answer, SendResult):
            return answer
        # 404/410: the subscription expired or the user revoked permission.
        return _classify_http(answer)
