"""Stripe webhook events for the local run and the tests, shaped like Stripe's API reference.

Objects follow the API version the installed stripe library pins (`2026-10-28.endive`): billing
periods on subscription items, the invoice's subscription under `parent.subscription_details`.
Bodies are signed with the stripe library's own scheme (`WebhookSignature.generate_signature_header`),
exactly as Stripe signs deliveries.

The committed sample `events/api/stripe-webhook-rejected.json` was signed at a fixed time, so it is
refused as a replay once the tolerance (5 min) has passed. Write a freshly signed one to invoke
the local run with (accepted within the tolerance):

    python -m tidewatch_local.stripe_events > /tmp/stripe-webhook.json
    tidewatch invoke api /tmp/stripe-webhook.json

and regenerate the committed sample with `--timestamp 1795960800`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from typing import Any

API_VERSION = "2026-10-28.endive"
# The signing secret of the local run and the committed sample event (never a real one).
LOCAL_WEBHOOK_SECRET = "whsec_tidewatch_local_test_0123456789abcdef"  # noqa: S105 - a published test secret
PRO_PRICE = "price_tidewatch_pro_monthly"
MONTH = 30 * 24 * 3600


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def price(price_id: str = PRO_PRICE, *, created: int = 1_790_000_000) -> dict[str, Any]:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": "tidewatch_pro_monthly",
        "metadata": {},
        "nickname": "Pro monthly",
        "product": "prod_TidewatchPro",
        "recurring": {"interval": "month", "interval_count": 1, "meter": None, "usage_type": "licensed"},
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": 1500,
        "unit_amount_decimal": "1500",
    }


def subscription(
    *,
    sub_id: str,
    customer: str,
    status: str,
    created: int,
    user_id: int | None = None,
    period_start: int | None = None,
    cancel_at_period_end: bool = False,
    cancel_at: int | None = None,
    canceled_at: int | None = None,
    price_id: str = PRO_PRICE,
) -> dict[str, Any]:
    start = period_start if period_start is not None else created
    end = start + MONTH
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_thresholds": None,
        "cancel_at": cancel_at if cancel_at is not None else (end if cancel_at_period_end else None),
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": "pm_1TidewatchCard",
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": canceled_at if status == "canceled" else None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_" + sub_id.removeprefix("sub_"),
                    "object": "subscription_item",
                    "billing_thresholds": None,
                    "created": created,
                    "current_period_end": end,
                    "current_period_start": start,
                    "discounts": [],
                    "metadata": {},
                    "price": price(price_id),
                    "quantity": 1,
                    "subscription": sub_id,
                    "tax_rates": [],
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": "in_" + sub_id.removeprefix("sub_"),
        "livemode": False,
        "metadata": {"tidewatch_user_id": str(user_id)} if user_id is not None else {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def checkout_session(
    *, session_id: str, customer: str, subscription_id: str, user_id: int, created: int
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "allow_promotion_codes": None,
        "amount_subtotal": 1500,
        "amount_total": 1500,
        "billing_address_collection": None,
        "cancel_url": "http://localhost:5173/billing?checkout=cancel",
        "client_reference_id": str(user_id),
        "created": created,
        "currency": "usd",
        "customer": customer,
        "customer_creation": None,
        "customer_email": None,
        "expires_at": created + 86_400,
        "invoice": "in_" + subscription_id.removeprefix("sub_"),
        "livemode": False,
        "locale": None,
        "metadata": {"tidewatch_user_id": str(user_id)},
        "mode": "subscription",
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "status": "complete",
        "subscription": subscription_id,
        "success_url": "http://localhost:5173/billing?checkout=success",
        "ui_mode": "hosted",
        "url": None,
    }


def invoice(
    *, invoice_id: str, customer: str, subscription_id: str, status: str, created: int, attempt_count: int = 1
) -> dict[str, Any]:
    paid = status == "paid"
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": 1500,
        "amount_paid": 1500 if paid else 0,
        "amount_remaining": 0 if paid else 1500,
        "attempt_count": attempt_count,
        "attempted": True,
        "auto_advance": not paid,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else created + 3 * 86_400,
        "number": "TW-0001",
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
            "type": "subscription_details",
        },
        "period_end": created,
        "period_start": created - MONTH,
        "status": status,
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": created if paid else None,
            "voided_at": None,
        },
        "subtotal": 1500,
        "total": 1500,
    }


def event(event_type: str, obj: dict[str, Any], *, created: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or _id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": _id("req"), "idempotency_key": None},
        "type": event_type,
    }


def sign(payload: str, secret: str = LOCAL_WEBHOOK_SECRET, *, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload`."""
    import stripe

    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp))


def api_gateway_event(
    payload: str, signature: str, *, request_id: str = "stripe-webhook-0001", received_at: int | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event delivering `payload` to POST /webhooks/stripe."""
    now = received_at if received_at is not None else int(time.time())
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/stripe",
        "rawPath": "/webhooks/stripe",
        "rawQueryString": "",
        "headers": {
            "accept": "*/*; q=0.5, application/xml",
            "cache-control": "no-cache",
            "content-length": str(len(payload.encode())),
            "content-type": "application/json; charset=utf-8",
            "host": "api.tidewatch.local",
            "stripe-signature": signature,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "x-forwarded-for": "3.18.12.63",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "tidewatch",
            "domainName": "api.tidewatch.local",
            "domainPrefix": "api",
            "http": {
                "method": "POST",
                "path": "/webhooks/stripe",
                "protocol": "HTTP/1.1",
                "sourceIp": "3.18.12.63",
                "userAgent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
            "requestId": request_id,
            "routeKey": "POST /webhooks/stripe",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": now * 1000,
        },
        # The raw body, byte for byte: the signature covers exactly this string.
        "body": payload,
        "isBase64Encoded": False,
    }


def sample_webhook_event(*, secret: str = LOCAL_WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, Any]:
    """A signed `customer.subscription.created` (active Pro) for user 1, wrapped for API Gateway."""
    signed_at = timestamp if timestamp is not None else int(time.time())
    sub = subscription(
        sub_id="sub_1TidewatchSample", customer="cus_TidewatchSample", status="active", created=signed_at - 5, user_id=1
    )
    body = json.dumps(
        event("customer.subscription.created", sub, created=signed_at - 2, event_id="evt_1TidewatchSample"), indent=2
    )
    return api_gateway_event(body, sign(body, secret, timestamp=signed_at), received_at=signed_at + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", default=LOCAL_WEBHOOK_SECRET, help="webhook signing secret (whsec_...)")
    parser.add_argument("--timestamp", type=int, default=None, help="signing time, Unix seconds (default: now)")
    args = parser.parse_args(argv)
    json.dump(sample_webhook_event(secret=args.secret, timestamp=args.timestamp), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
