"""Alert destinations: created by their owner, verified before use, one owner each.

* email — stored unverified; a signed link (24 h) mailed to the address verifies it. Every alert
  mail carries a one-click unsubscribe link (no login). An SES bounce or complaint (SNS
  notification) suppresses the address for every user.
* telegram — the user asks for a one-time code (10 min), sends `/start <code>` to the bot; the
  bot's webhook links the chat to the code's owner. A used or expired code links nothing.
* discord / slack — an incoming-webhook URL of the provider's real shape, checked by the egress
  policy; knowing the URL is owning the channel, so it is verified at creation.
* webpush — the browser's PushSubscription (https endpoint checked by the egress policy, P-256
  `p256dh` key and 16-byte `auth` secret), verified at creation.

Every read and write is scoped to the user: another user's destination is a 404, never a 403 that
confirms it exists. Bad input is a 422 problem and nothing is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from tidewatch.alerts import repository
from tidewatch.alerts.channels import Channel, Destination, SendContext, b64url_decode
from tidewatch.alerts.messages import AlertMessage
from tidewatch.alerts.outbox import Outbox
from tidewatch.alerts.repository import DestinationsRepository
from tidewatch.alerts.tokens import BadToken, address_digest, make_token, read_token
from tidewatch.db import Database
from tidewatch.errors import Conflict, DomainError, InvalidInput, NotFound, UpstreamUnavailable
from tidewatch.rules.egress import EgressPolicy

Kind = Literal["email", "telegram", "discord", "slack", "webpush"]
VERIFY_PURPOSE = "verify-email"
UNSUBSCRIBE_PURPOSE = "unsubscribe"
VERIFY_TTL_SECONDS = 24 * 3600
TELEGRAM_CODE_TTL_SECONDS = 600
MAX_DESTINATIONS = 20

# RFC 5321 limits (64-octet local part, 254 in all) and a practical addr-spec: no quoted local
# parts, no IP literals, a dotted domain of LDH labels with an alphabetic TLD.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# https://discord.com/developers/docs/resources/webhook#execute-webhook
_DISCORD_HOSTS = {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
_DISCORD_PATH = re.compile(r"^/api(/v\d+)?/webhooks/\d{15,25}/[A-Za-z0-9_-]{20,100}$")
# https://api.slack.com/messaging/webhooks: https://hooks.slack.com/services/T…/B…/<token>
_SLACK_HOSTS = {"hooks.slack.com"}
_SLACK_PATH = re.compile(r"^/services/T[A-Z0-9]{6,15}/B[A-Z0-9]{6,15}/[A-Za-z0-9]{20,40}$")


class Gone(DomainError):
    type_slug = "gone"
    title = "Gone"
    status = 410


class EmailDestinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["email"]
    address: str = Field(max_length=254)
    label: str | None = Field(default=None, min_length=1, max_length=80)
    is_default: bool = True


class ChatWebhookDestinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["discord", "slack"]
    url: str = Field(max_length=300)
    label: str | None = Field(default=None, min_length=1, max_length=80)
    is_default: bool = True


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=64)


class WebPushDestinationIn(BaseModel):
    """The browser's `PushSubscription.toJSON()` (endpoint and keys), plus a label."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["webpush"]
    endpoint: str = Field(max_length=1000)
    keys: PushKeys
    expirationTime: int | None = None
    label: str | None = Field(default=None, min_length=1, max_length=80)
    is_default: bool = True


DestinationIn = EmailDestinationIn | ChatWebhookDestinationIn | WebPushDestinationIn


class DestinationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(default=None, min_length=1, max_length=80)
    is_default: bool | None = None


class DestinationOut(BaseModel):
    id: int
    kind: Kind
    label: str
    target: str  # the address, chat id, or the URL with its secret part masked
    is_default: bool
    verified: bool
    state: Literal["unverified", "active", "unsubscribed", "disabled", "suppressed"]
    disabled_reason: str | None
    created_at: datetime


class TelegramCode(BaseModel):
    code: str
    link: str | None  # https://t.me/<bot>?start=<code>, when the bot's name is configured
    expires_at: datetime


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = Field(default="UTC", max_length=64)
    quiet_start: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_min_severity: Literal["info", "warning", "critical"] = "critical"


class AttemptOut(BaseModel):
    attempt: int
    outcome: str
    response_code: int | None
    response: str | None
    latency_ms: float | None
    at: datetime


class DeliveryOut(BaseModel):
    id: int
    destination_id: int
    rule_id: int | None
    severity: str
    subject: str
    status: str
    attempts: list[AttemptOut]
    last_error: str | None
    created_at: datetime


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors=[{"field": field, "message": message}])


def chat_webhook_problem(kind: str, url: str, *, extra_hosts: frozenset[str] = frozenset()) -> str | None:
    """Why `url` is not a Discord / Slack incoming webhook URL (its real shape), or None."""
    parts = urlsplit(url)
    hosts = _DISCORD_HOSTS if kind == "discord" else _SLACK_HOSTS
    pattern = _DISCORD_PATH if kind == "discord" else _SLACK_PATH
    netloc = parts.netloc.lower()
    if netloc in extra_hosts:  # a local receiver (local run, tests) stands in for the provider
        if parts.scheme not in ("http", "https"):
            return "not an http(s) URL"
    elif parts.scheme != "https" or (parts.hostname or "").lower() not in hosts or parts.port not in (None, 443):
        return f"a {kind} webhook URL is https://{sorted(hosts)[0]}/…"
    if parts.username or parts.password or parts.fragment:
        return "the URL must not carry credentials or a fragment"
    if not pattern.match(parts.path) or (parts.query and kind == "slack"):
        example = "/api/webhooks/<id>/<token>" if kind == "discord" else "/services/T…/B…/<token>"
        return f"not a {kind} incoming-webhook path (expected {example})"
    return None


def _mask(kind: str, target: str) -> str:
    if kind in ("discord", "slack", "webpush"):
        parts = urlsplit(target)
        head = parts.path.rsplit("/", 1)[0]
        return f"{parts.scheme}://{parts.netloc}{head}/…"
    return target


@dataclass(frozen=True)
class DestinationSettings:
    link_key: bytes
    api_url: str  # public base URL of the API (signed links point here)
    telegram_bot_username: str | None = None
    chat_webhook_extra_hosts: frozenset[str] = frozenset()


class DestinationService:
    """Destinations as their owners manage them, over a `DestinationsRepository` (no SQL here)."""

    def __init__(
        self,
        destinations: DestinationsRepository,
        settings: DestinationSettings,
        *,
        egress: EgressPolicy,
        email: Channel | None = None,
        outbox: Outbox | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._records = destinations
        self._settings = settings
        self._egress = egress
        self._email = email
        self._outbox = outbox
        self._clock = clock

    # ------------------------------------------------------------ links

    def verify_link(self, destination_id: int, address: str) -> str:
        expires = int(self._clock().timestamp()) + VERIFY_TTL_SECONDS
        token = make_token(self._settings.link_key, VERIFY_PURPOSE, destination_id, address, expires_at=expires)
        return f"{self._settings.api_url.rstrip('/')}/alerts/email/verify?token={token}"

    def unsubscribe_link(self, destination: Destination) -> str | None:
        if destination.kind != "email":
            return None
        token = make_token(
            self._settings.link_key, UNSUBSCRIBE_PURPOSE, destination.id, destination.target, expires_at=None
        )
        return f"{self._settings.api_url.rstrip('/')}/alerts/unsubscribe?token={token}"

    # ------------------------------------------------------------ reading

    def _out(self, row: Mapping[str, Any]) -> DestinationOut:
        if row["disabled_reason"]:
            state = "disabled"
        elif row["unsubscribed_at"] is not None:
            state = "unsubscribed"
        elif row.get("suppressed"):
            state = "suppressed"
        elif row["verified_at"] is None:
            state = "unverified"
        else:
            state = "active"
        return DestinationOut(
            id=int(row["id"]),
            kind=row["kind"],
            label=str(row["label"]),
            target=_mask(str(row["kind"]), str(row["target"])),
            is_default=bool(row["is_default"]),
            verified=row["verified_at"] is not None,
            state=state,
            disabled_reason=row["disabled_reason"],
            created_at=row["created_at"],
        )

    def list_for(self, user_id: int) -> list[DestinationOut]:
        with self._records.session() as records:
            rows = records.user_destinations(user_id)
        return [self._out(r) for r in rows]

    def get(self, user_id: int, destination_id: int) -> DestinationOut:
        with self._records.session() as records:
            row = records.user_destination(user_id, destination_id)
        if row is None:
            raise NotFound(f"no destination {destination_id} of yours")
        return self._out(row)

    # ------------------------------------------------------------ writing

    def _insert(
        self,
        user_id: int,
        kind: str,
        label: str,
        target: str,
        *,
        secret: Mapping[str, Any] | None = None,
        verified: bool,
        is_default: bool,
    ) -> DestinationOut:
        import json

        import psycopg

        try:
            with self._records.transaction() as records:
                if records.destination_count(user_id) >= MAX_DESTINATIONS:
                    raise Conflict(f"at most {MAX_DESTINATIONS} destinations per user")
                row = records.insert_destination(
                    user_id=user_id,
                    kind=kind,
                    label=label,
                    target=target,
                    secret=json.dumps(dict(secret or {})),
                    is_default=is_default,
                    verified=verified,
                )
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"this {kind} destination is already linked") from exc
        except psycopg.errors.ForeignKeyViolation as exc:
            raise NotFound("no such user") from exc
        return self._out({**row, "suppressed": False})

    def create(self, user_id: int, spec: DestinationIn) -> DestinationOut:
        if isinstance(spec, EmailDestinationIn):
            return self._create_email(user_id, spec)
        if isinstance(spec, ChatWebhookDestinationIn):
            why = chat_webhook_problem(spec.kind, spec.url, extra_hosts=self._settings.chat_webhook_extra_hosts)
            if why is None:
                refused = self._egress.refusal(spec.url)
                why = f"webhook target refused: {refused}" if refused else None
            if why:
                raise _invalid("url", why)
            label = spec.label or spec.kind.capitalize()
            return self._insert(user_id, spec.kind, label, spec.url, verified=True, is_default=spec.is_default)
        return self._create_push(user_id, spec)

    def _create_email(self, user_id: int, spec: EmailDestinationIn) -> DestinationOut:
        address = spec.address.strip()
        local, _, domain = address.rpartition("@")
        if not _EMAIL.match(address) or len(local) > 64:
            raise _invalid("address", "not a valid email address")
        address = f"{local}@{domain.lower()}"
        if self._email is None:
            raise UpstreamUnavailable(
                "email alerts are not configured on this deployment", slug="alerts-not-configured"
            )
        out = self._insert(user_id, "email", spec.label or address, address, verified=False, is_default=spec.is_default)
        link = self.verify_link(out.id, address)
        message = AlertMessage(
            subject="[Tidewatch] Confirm your email address for alerts",
            headline="Confirm that Tidewatch may send alerts to this address.",
            details=(
                f"Open this link within 24 hours to confirm: {link}",
                "If you did not ask for this, ignore this mail: nothing will be sent.",
            ),
            severity="info",
            link=link,
            transaction_link=None,
        )
        result = self._email.send(
            Destination(out.id, user_id, "email", out.label, address), message, SendContext(delivery_id=0)
        )
        if result.outcome != "delivered":
            # Nothing half-stored: the address is only kept when its confirmation mail went out.
            with self._records.session() as records:
                records.drop_destination(out.id)
            if result.outcome == "failed":  # the address itself was refused (a hard bounce, SES rejection)
                raise _invalid("address", f"this address does not accept mail: {result.response}"[:300])
            raise UpstreamUnavailable(
                f"the confirmation mail could not be sent now, try again: {result.response}"[:300],
                slug="email-not-sent",
            )
        return out

    def _create_push(self, user_id: int, spec: WebPushDestinationIn) -> DestinationOut:
        local = self._egress.allow_loopback or self._egress.allow_private  # tests, the local run
        if not spec.endpoint.startswith("https://") and not local:
            raise _invalid("endpoint", "a push endpoint is an https URL")
        refused = self._egress.refusal(spec.endpoint)
        if refused:
            raise _invalid("endpoint", f"push endpoint refused: {refused}")
        try:
            point = b64url_decode(spec.keys.p256dh)
            auth = b64url_decode(spec.keys.auth)
        except ValueError as exc:
            raise _invalid("keys", "keys must be base64url") from exc
        if len(point) != 65 or point[0] != 4:
            raise _invalid("keys.p256dh", "not an uncompressed P-256 public key")
        if len(auth) != 16:
            raise _invalid("keys.auth", "the auth secret is 16 bytes")
        try:
            from cryptography.hazmat.primitives.asymmetric import ec

            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError as exc:
            raise _invalid("keys.p256dh", "not a point on P-256") from exc
        label = spec.label or f"Browser ({urlsplit(spec.endpoint).hostname})"
        keys = {"p256dh": spec.keys.p256dh, "auth": spec.keys.auth}
        return self._insert(
            user_id, "webpush", label, spec.endpoint, secret=keys, verified=True, is_default=spec.is_default
        )

    def update(self, user_id: int, destination_id: int, patch: DestinationPatch) -> DestinationOut:
        with self._records.session() as records:
            updated = records.update_destination(
                user_id, destination_id, label=patch.label, is_default=patch.is_default
            )
        if not updated:
            raise NotFound(f"no destination {destination_id} of yours")
        return self.get(user_id, destination_id)

    def delete(self, user_id: int, destination_id: int) -> None:
        with self._records.session() as records:
            deleted = records.delete_user_destination(user_id, destination_id)
        if not deleted:
            raise NotFound(f"no destination {destination_id} of yours")

    # ------------------------------------------------------------ verification

    def verify_email(self, token: str) -> DestinationOut:
        try:
            claims = read_token(self._settings.link_key, VERIFY_PURPOSE, token, now=self._clock().timestamp())
        except BadToken as exc:
            raise _invalid("token", str(exc)) from exc
        with self._records.session() as records:
            row = records.email_destination(claims.destination_id)
            if row is None or address_digest(str(row["target"])) != claims.address_digest:
                raise NotFound("this address is no longer on any account")
            records.mark_verified(claims.destination_id)
        return self.get(int(row["user_id"]), claims.destination_id)

    def unsubscribe(self, token: str) -> str:
        """One click, no login: the destination stops receiving; returns the address."""
        try:
            claims = read_token(self._settings.link_key, UNSUBSCRIBE_PURPOSE, token, now=self._clock().timestamp())
        except BadToken as exc:
            raise _invalid("token", str(exc)) from exc
        # The link's address is checked before anything is written: a link signed for another
        # address (or for a destination gone since) unsubscribes nothing.
        with self._records.session() as records:
            row = records.email_destination(claims.destination_id)
            signed_for = row is not None and address_digest(str(row["target"])) == claims.address_digest
            target = records.unsubscribe_email(claims.destination_id) if signed_for else None
        if target is None:
            raise NotFound("this address is no longer on any account")
        return target

    def resubscribe(self, user_id: int, destination_id: int) -> DestinationOut:
        with self._records.session() as records:
            records.resubscribe(user_id, destination_id)
        return self.get(user_id, destination_id)

    # ------------------------------------------------------------ Telegram

    @staticmethod
    def _code_hash(code: str) -> str:
        return hashlib.sha256(code.strip().upper().encode()).hexdigest()

    def telegram_code(self, user_id: int, label: str | None = None) -> TelegramCode:
        # 10 characters of an unambiguous alphabet: ~50 bits, valid 10 minutes, single use.
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        code = "".join(secrets.choice(alphabet) for _ in range(10))
        expires = self._clock() + timedelta(seconds=TELEGRAM_CODE_TTL_SECONDS)
        with self._records.session() as records:
            records.insert_telegram_code(self._code_hash(code), user_id, label or "Telegram", expires)
        bot = self._settings.telegram_bot_username
        return TelegramCode(code=code, link=f"https://t.me/{bot}?start={code}" if bot else None, expires_at=expires)

    def link_telegram(self, code: str, chat_id: str) -> DestinationOut:
        """Link the chat to the code's owner, once; 404 unknown code, 410 used or expired."""
        import psycopg

        if not re.fullmatch(r"[A-Za-z0-9]{4,32}", code.strip()):
            raise NotFound("unknown code")
        now = self._clock()
        try:
            with self._records.transaction() as records:
                row = records.lock_telegram_code(self._code_hash(code))
                if row is None:
                    raise NotFound("unknown code")
                if row["used_at"] is not None:
                    raise Gone("this code was already used; ask for a new one in Tidewatch")
                if row["expires_at"] <= now:
                    raise Gone("this code has expired; ask for a new one in Tidewatch")
                records.use_telegram_code(self._code_hash(code), now)
                # A chat linked to another user moves to the new owner (only they hold the chat).
                created = records.link_telegram_chat(row["user_id"], row["label"], chat_id)
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict("this chat is already linked") from exc
        return self._out({**created, "suppressed": False})

    # ------------------------------------------------------------ preferences, log, test send

    def preferences(self, user_id: int) -> Preferences:
        with self._records.session() as records:
            row = records.preferences_row(user_id)
        if row is None:
            return Preferences()
        return Preferences(
            timezone=row["timezone"],
            quiet_start=row["quiet_start"].strftime("%H:%M") if row["quiet_start"] else None,
            quiet_end=row["quiet_end"].strftime("%H:%M") if row["quiet_end"] else None,
            quiet_min_severity=row["quiet_min_severity"],
        )

    def set_preferences(self, user_id: int, prefs: Preferences) -> Preferences:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(prefs.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _invalid("timezone", "not an IANA time zone (e.g. Europe/Berlin)") from exc
        if (prefs.quiet_start is None) != (prefs.quiet_end is None):
            raise _invalid("quiet_end", "quiet hours need both a start and an end")
        with self._records.session() as records:
            records.save_preferences(
                user_id,
                timezone=prefs.timezone,
                quiet_start=prefs.quiet_start,
                quiet_end=prefs.quiet_end,
                quiet_min_severity=prefs.quiet_min_severity,
            )
        return self.preferences(user_id)

    def deliveries(self, user_id: int, *, destination_id: int | None = None, limit: int = 50) -> list[DeliveryOut]:
        with self._records.session() as records:
            rows, attempts = records.user_deliveries(user_id, destination_id=destination_id, limit=limit)
        by_delivery: dict[int, list[AttemptOut]] = {}
        for a in attempts:
            by_delivery.setdefault(int(a["delivery_id"]), []).append(
                AttemptOut(**{k: a[k] for k in AttemptOut.model_fields})
            )
        return [
            DeliveryOut(
                **{k: r[k] for k in DeliveryOut.model_fields if k != "attempts"},
                attempts=by_delivery.get(int(r["id"]), []),
            )
            for r in rows
        ]

    def test_send(self, user_id: int, destination_id: int) -> list[int]:
        """Queue a test alert to one active destination (outside quiet hours rules)."""
        destination = self.get(user_id, destination_id)
        if destination.state != "active":
            raise Conflict(f"destination {destination_id} is {destination.state}; only active ones can be tested")
        if self._outbox is None:
            raise UpstreamUnavailable("alert delivery is not configured", slug="alerts-not-configured")
        message = AlertMessage(
            subject="[Tidewatch] Test alert",
            headline="This is a test alert from Tidewatch: this destination works.",
            details=("Real alerts say what happened, with the health factor, threshold and forecast.",),
            severity="info",
            link=None,
            transaction_link=None,
        )
        return self._outbox.enqueue(
            user_id=user_id,
            idempotency_key=f"test:{secrets.token_hex(8)}",
            message=message,
            destination_ids=[destination_id],
            respect_quiet_hours=False,
        )


def apply_ses_notification(database: Database, notification: Mapping[str, Any]) -> list[str]:
    """Suppress the addresses of an SES bounce (permanent) or complaint notification.

    Accepts both SES notification shapes: identity notifications (`notificationType`) and
    configuration-set event publishing (`eventType`). Transient bounces suppress nothing.
    Returns the suppressed addresses.
    """
    import json

    kind = str(notification.get("notificationType") or notification.get("eventType") or "")
    addresses: Sequence[Mapping[str, Any]] = []
    reason = ""
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        addresses, reason = bounce.get("bouncedRecipients") or [], "bounce"
    elif kind == "Complaint":
        addresses, reason = (notification.get("complaint") or {}).get("complainedRecipients") or [], "complaint"
    found = [str(a.get("emailAddress", "")).strip().lower() for a in addresses if a.get("emailAddress")]
    if not found:
        return []
    detail = json.dumps({"type": kind, "message_id": (notification.get("mail") or {}).get("messageId")})
    with database.connection() as conn:
        repository.suppress_addresses(conn, found, reason, detail)
    return found
