"""A local stand-in for the Stripe API at the HTTP layer (`responses`), with reference-shaped bodies.

Bodies follow Stripe's API reference for customers, Checkout Sessions, billing portal sessions and
errors; requests are recorded so tests can check exactly what was sent (form-encoded, as Stripe
expects, with the idempotency key and API version headers).
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl

import responses

API_BASE = "http://stripe.local:12111"
_counter = itertools.count(1)


def form(request: Any) -> dict[str, str]:
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    return dict(parse_qsl(body, keep_blank_values=True))


def customer_body(customer_id: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": 1_795_960_800,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": None,
        "invoice_prefix": "TW" + customer_id[-6:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def checkout_session_body(session_id: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": 1500,
        "amount_total": 1500,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "consent": None,
        "created": 1_795_960_800,
        "currency": "usd",
        "customer": params.get("customer"),
        "customer_creation": None,
        "customer_details": None,
        "customer_email": None,
        "expires_at": 1_796_047_200,
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")},
        "mode": params.get("mode"),
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
    }


def portal_session_body(session_id: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": "bpc_1TidewatchPortal",
        "created": 1_795_960_800,
        "customer": params.get("customer"),
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": params.get("return_url"),
        "url": f"https://billing.stripe.com/p/session/test_{session_id[-12:]}",
    }


def error_body(
    message: str, *, error_type: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code}" if code else None,
            "message": message,
            "param": param,
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_stub",
            "type": error_type,
        }
    }


def list_body(data: list[dict[str, Any]], *, has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def no_such_customer(customer_id: str) -> dict[str, Any]:
    return error_body(f"No such customer: '{customer_id}'", code="resource_missing", param="customer")


class StripeStub:
    """Registers Stripe endpoints on a `responses.RequestsMock`; customers persist per idempotency key.

    `subscriptions` is Stripe's current state, which `GET /v1/subscriptions` lists (newest first,
    paged like Stripe with `limit` / `starting_after`); tests change it as Stripe would (`put`) and
    deliver the events separately, in whatever order they like. A deleted customer answers
    `resource_missing` on the customer parameter, as Stripe does.
    """

    def __init__(self, mock: responses.RequestsMock, base: str = API_BASE) -> None:
        self.mock = mock
        self.base = base
        self.customers_by_key: dict[str, str] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.deleted_customers: set[str] = set()
        mock.add_callback(responses.POST, f"{base}/v1/customers", callback=self._customer)
        mock.add_callback(responses.POST, f"{base}/v1/checkout/sessions", callback=self._checkout)
        mock.add_callback(responses.POST, f"{base}/v1/billing_portal/sessions", callback=self._portal)
        mock.add_callback(responses.GET, f"{base}/v1/subscriptions", callback=self._list_subscriptions)

    def put(self, subscription: dict[str, Any]) -> None:
        """Stripe's subscription is now `subscription` (the object an event would carry)."""
        self.subscriptions[subscription["id"]] = subscription

    def delete_customer(self, customer_id: str) -> None:
        """Stripe deletes the customer and cancels its subscriptions, which stay retrievable by id only."""
        self.deleted_customers.add(customer_id)

    def _list_subscriptions(self, request: Any) -> tuple[int, dict[str, str], str]:
        from urllib.parse import urlsplit

        params = dict(parse_qsl(urlsplit(str(request.url)).query))
        customer = params.get("customer", "")
        if customer in self.deleted_customers:
            return self._reply(no_such_customer(customer), 400)
        status = params.get("status")
        found = [
            s
            for s in self.subscriptions.values()
            if s["customer"] == customer and (status == "all" or s["status"] != "canceled")
        ]
        found.sort(key=lambda s: (-int(s["created"]), s["id"]))
        if "starting_after" in params:
            ids = [s["id"] for s in found]
            found = found[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", "10"))
        return self._reply(list_body(found[:limit], has_more=len(found) > limit, url="/v1/subscriptions"))

    @staticmethod
    def _reply(body: dict[str, Any], status: int = 200) -> tuple[int, dict[str, str], str]:
        import json

        return (
            status,
            {"Request-Id": f"req_stub{next(_counter):06d}", "Content-Type": "application/json"},
            json.dumps(body),
        )

    def _customer(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = form(request)
        key = request.headers.get("Idempotency-Key") or f"no-key-{next(_counter)}"
        # Stripe replays the first response for a repeated idempotency key.
        customer_id = self.customers_by_key.setdefault(key, f"cus_Stub{next(_counter):08d}")
        return self._reply(customer_body(customer_id, params))

    def _checkout(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = form(request)
        if params.get("customer") in self.deleted_customers:
            return self._reply(no_such_customer(params["customer"]), 400)
        if not params.get("customer", "").startswith("cus_"):
            return self._reply(error_body("No such customer", code="resource_missing", param="customer"), 400)
        return self._reply(checkout_session_body(f"cs_test_Stub{next(_counter):08d}", params))

    def _portal(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self._reply(portal_session_body(f"bps_Stub{next(_counter):08d}", form(request)))

    def calls_to(self, path: str) -> list[Any]:
        return [c.request for c in self.mock.calls if c.request.url.split("?")[0] == f"{self.base}{path}"]
