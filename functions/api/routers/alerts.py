"""Alert destinations, preferences, the delivery log, and the links that work without a login.

`create_router(authenticate=..., service=..., telegram=..., push_key=...)`: `authenticate` is the
bearer-token dependency (claims with `user_id`), `service` returns the `DestinationService`,
`telegram` returns the bot's webhook secret and a reply function (or None when Telegram is not
configured), `push_key` the VAPID public key. `router` is the API's own, bound to `CurrentUser`'s
check, the per-IP rate limit and the app's alerts collaborators (`api.deps`).
The signed-link routes (`/alerts/email/verify`, `/alerts/unsubscribe`) and the Telegram webhook take
no bearer token: the link's signature, or Telegram's secret-token header, is the credential.
"""

# No `from __future__ import annotations`: FastAPI must see the factory's local aliases as objects.
import hmac
import html
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from fastapi.params import Depends as DependsParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.deps import TelegramBot, current_claims, destination_service, limit_by_ip, push_key, telegram_bot
from tidewatch.alerts.destinations import (
    ChatWebhookDestinationIn,
    DeliveryOut,
    DestinationOut,
    DestinationPatch,
    DestinationService,
    EmailDestinationIn,
    Preferences,
    TelegramCode,
    WebPushDestinationIn,
)
from tidewatch.errors import DomainError, Unauthorized

DestinationId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Destination id.")]
Token = Annotated[str, Query(min_length=10, max_length=512, description="The signed link's token.")]
DestinationBody = Annotated[
    EmailDestinationIn | ChatWebhookDestinationIn | WebPushDestinationIn, Field(discriminator="kind")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such destination of yours (problem+json)."}}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid destination; `errors[].field` names the field (problem+json)."},
    409: {"description": "Already linked, or too many destinations (problem+json)."},
}


class TelegramCodeRequest(BaseModel):
    label: str | None = Field(default=None, min_length=1, max_length=80)


class TestSend(BaseModel):
    deliveries: list[int]


class PushKey(BaseModel):
    public_key: str | None = Field(description="VAPID public key (applicationServerKey), base64url; null: no push.")


# A signed link that does not work answers an HTML page with the refusal's status (problem+json
# only when the request itself is malformed, e.g. no token at all).
_LINK_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": "The link does not work (malformed, expired, used or unknown): an HTML page saying so.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    for status in (400, 404, 409, 410, 422)
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="font-family:system-ui,sans-serif;max-width:520px;margin:3em auto">'
        f"<h1 style='font-size:20px'>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def create_router(
    *,
    authenticate: Callable[..., Any],
    service: Callable[..., DestinationService],
    telegram: Callable[..., TelegramBot | None],
    push_key: Callable[..., str | None],
    dependencies: Sequence[DependsParam] = (),
) -> APIRouter:
    User = Annotated[Any, Depends(authenticate)]
    Service = Annotated[DestinationService, Depends(service)]
    Bot = Annotated[TelegramBot | None, Depends(telegram)]
    router = APIRouter(
        tags=["alerts"],
        dependencies=list(dependencies),
        responses={401: {"description": "Missing or invalid access token (problem+json)."}},
    )

    @router.get("/alerts/destinations")
    def list_destinations(user: User, svc: Service) -> list[DestinationOut]:
        """Your destinations with their verification state (`unverified`, `active`, `unsubscribed`, …)."""
        return svc.list_for(user.user_id)

    @router.post("/alerts/destinations", status_code=201, responses=_INVALID)
    def create_destination(body: DestinationBody, user: User, svc: Service, response: Response) -> DestinationOut:
        """Add an email address (a confirmation link is mailed), a Discord/Slack incoming webhook,
        or a browser push subscription. Telegram chats are linked with `/alerts/telegram/codes`."""
        created = svc.create(user.user_id, body)
        response.headers["Location"] = f"/alerts/destinations/{created.id}"
        return created

    @router.get("/alerts/destinations/{destination_id}", responses=_NOT_FOUND)
    def get_destination(destination_id: DestinationId, user: User, svc: Service) -> DestinationOut:
        return svc.get(user.user_id, destination_id)

    @router.patch("/alerts/destinations/{destination_id}", responses=_NOT_FOUND)
    def update_destination(
        destination_id: DestinationId, body: DestinationPatch, user: User, svc: Service
    ) -> DestinationOut:
        """Rename, or include in / leave out of the default set (`is_default`)."""
        return svc.update(user.user_id, destination_id, body)

    @router.delete("/alerts/destinations/{destination_id}", status_code=204, responses=_NOT_FOUND)
    def delete_destination(destination_id: DestinationId, user: User, svc: Service) -> Response:
        svc.delete(user.user_id, destination_id)
        return Response(status_code=204)

    @router.post("/alerts/destinations/{destination_id}/resubscribe", responses=_NOT_FOUND)
    def resubscribe(destination_id: DestinationId, user: User, svc: Service) -> DestinationOut:
        """Receive alerts again after an unsubscribe or after the provider disabled the destination."""
        return svc.resubscribe(user.user_id, destination_id)

    @router.post("/alerts/destinations/{destination_id}/test", status_code=202, responses=_NOT_FOUND)
    def test_destination(destination_id: DestinationId, user: User, svc: Service) -> TestSend:
        """Queue a test alert; its outcome appears in `GET /alerts/deliveries`."""
        return TestSend(deliveries=svc.test_send(user.user_id, destination_id))

    @router.post("/alerts/telegram/codes", status_code=201)
    def telegram_code(
        user: User, svc: Service, body: Annotated[TelegramCodeRequest | None, Body()] = None
    ) -> TelegramCode:
        """A one-time code (10 minutes): send `/start <code>` to the bot to link that chat."""
        return svc.telegram_code(user.user_id, body.label if body else None)

    @router.post("/alerts/telegram/webhook", include_in_schema=True)
    def telegram_webhook(
        update: Annotated[dict[str, Any], Body()],
        svc: Service,
        bot: Bot,
        secret: Annotated[str, Header(alias="X-Telegram-Bot-Api-Secret-Token", max_length=256)] = "",
    ) -> dict[str, Any]:
        """The bot's webhook (Telegram `setWebhook` with `secret_token`); links chats on `/start <code>`."""
        if bot is None or not hmac.compare_digest(secret.encode(), bot.webhook_secret.encode()):
            raise Unauthorized("missing or wrong X-Telegram-Bot-Api-Secret-Token")
        message = update.get("message") if isinstance(update.get("message"), dict) else None
        if message is None:
            return {"ok": True, "handled": False}
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        text = str(message.get("text") or "").strip()
        chat_id = chat.get("id")
        if not isinstance(chat_id, int) or not text.startswith("/start"):
            return {"ok": True, "handled": False}
        if chat.get("type") != "private":
            bot.reply(str(chat_id), "Tidewatch alerts can only be linked in a private chat with the bot.")
            return {"ok": True, "handled": False}
        code = text.removeprefix("/start").strip()
        try:
            destination = svc.link_telegram(code, str(chat_id))
        except DomainError as exc:
            bot.reply(str(chat_id), f"Not linked: {exc.detail}")
            # Telegram retries non-2xx answers: the refusal is told to the chat and answered 200.
            return {"ok": False, "problem": exc.to_problem()}
        bot.reply(str(chat_id), "Linked: Tidewatch alerts for your rules will arrive in this chat.")
        return {"ok": True, "handled": True, "destination_id": destination.id}

    @router.get("/alerts/email/verify", response_class=HTMLResponse, responses=_LINK_REFUSALS)
    def verify_email(token: Token, svc: Service) -> HTMLResponse:
        """The signed link mailed to a new address (no login): the address becomes active."""
        try:
            destination = svc.verify_email(token)
        except DomainError as exc:
            return _page("This link does not work", f"<p>{html.escape(exc.detail)}</p>", exc.status)
        return _page("Address confirmed", f"<p>Alerts will now reach {html.escape(destination.target)}.</p>")

    @router.get("/alerts/unsubscribe", response_class=HTMLResponse, responses=_LINK_REFUSALS)
    def unsubscribe_page(token: Token) -> HTMLResponse:
        """The link in every alert mail: one button, no login (a GET never unsubscribes, so link
        scanners cannot)."""
        form = (
            f'<form method="post" action="/alerts/unsubscribe?token={html.escape(token)}">'
            '<button type="submit" style="font-size:16px;padding:.5em 1em">Stop alert emails to this address</button>'
            "</form>"
        )
        return _page("Unsubscribe from Tidewatch alerts", form)

    @router.post("/alerts/unsubscribe", response_class=HTMLResponse, responses=_LINK_REFUSALS)
    def unsubscribe(token: Token, svc: Service) -> HTMLResponse:
        """One-click unsubscribe (RFC 8058 `List-Unsubscribe-Post`, and the page's button)."""
        try:
            address = svc.unsubscribe(token)
        except DomainError as exc:
            return _page("This link does not work", f"<p>{html.escape(exc.detail)}</p>", exc.status)
        return _page("Unsubscribed", f"<p>No more alert emails go to {html.escape(address)}.</p>")

    @router.get("/alerts/preferences")
    def get_preferences(user: User, svc: Service) -> Preferences:
        return svc.preferences(user.user_id)

    @router.put("/alerts/preferences", responses={422: {"description": "Invalid time zone or hours."}})
    def put_preferences(body: Preferences, user: User, svc: Service) -> Preferences:
        """Quiet hours (local time in `timezone`): only alerts of `quiet_min_severity` or above go
        out during them; the others wait until the quiet hours end."""
        return svc.set_preferences(user.user_id, body)

    @router.get("/alerts/deliveries")
    def deliveries(
        user: User,
        svc: Service,
        destination_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> list[DeliveryOut]:
        """The delivery log: each alert with every attempt (outcome, provider answer, latency)."""
        return svc.deliveries(user.user_id, destination_id=destination_id, limit=limit)

    @router.get("/alerts/push/key")
    def vapid_key(user: User, key: Annotated[str | None, Depends(push_key)]) -> PushKey:
        """The VAPID public key the browser's `pushManager.subscribe` takes as applicationServerKey."""
        return PushKey(public_key=key)

    return router


router = create_router(
    authenticate=current_claims,
    service=destination_service,
    telegram=telegram_bot,
    push_key=push_key,
    dependencies=[Depends(limit_by_ip)],
)
