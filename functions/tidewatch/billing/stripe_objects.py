"""Pydantic models of the parts of Stripe's webhook payloads that billing reads.

Shapes follow Stripe's API reference for the pinned API version of the installed library
(`2026-10-28`): the billing period lives on subscription items (`items.data[].current_period_end`)
and an invoice names its subscription under `parent.subscription_details.subscription`. The older
top-level fields (`subscription.current_period_end`, `invoice.subscription`) are still read when
present, so an endpoint pinned to an older API version keeps working.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Metadata key set on customers, checkout sessions and subscriptions we create.
USER_ID_METADATA_KEY = "tidewatch_user_id"

# A user id as we write it: a plain positive decimal integer that fits `users.id` (bigint).
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_BIGINT = 2**63 - 1


def parse_user_id(raw: str | None) -> int | None:
    """`raw` as a user id, or None unless it is exactly a positive integer within bigint.

    Strict on purpose: `str.isdigit` also accepts superscripts and other scripts' digits, and an
    unbounded integer overflows the column; either must be "not ours", never a server error.
    """
    if raw is None or not _USER_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= _MAX_BIGINT else None


def _expandable_id(value: Any) -> Any:
    """Stripe sends an id, or the expanded object when asked; either way keep the id."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def from_unix(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class _StripeModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StripeEventData(_StripeModel):
    object: dict[str, Any]


class StripeEvent(_StripeModel):
    """A v1 snapshot event as delivered to a webhook endpoint."""

    id: str = Field(min_length=1, max_length=255)
    object: str = "event"
    type: str = Field(min_length=1, max_length=255)
    created: int = Field(ge=0, description="Unix seconds when Stripe created the event.")
    livemode: bool = False
    data: StripeEventData

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, tz=UTC)


def metadata_user_id(metadata: dict[str, str] | None) -> int | None:
    return parse_user_id((metadata or {}).get(USER_ID_METADATA_KEY))


class CheckoutSessionObject(_StripeModel):
    id: str
    object: str = "checkout.session"
    mode: str | None = None
    customer: str | None = None
    subscription: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, str] | None = None
    status: str | None = None

    _ids = field_validator("customer", "subscription", mode="before")(_expandable_id)

    @property
    def has_bad_reference(self) -> bool:
        """A `client_reference_id` is present but is not one of our user ids."""
        return self.client_reference_id is not None and parse_user_id(self.client_reference_id) is None

    @property
    def user_id(self) -> int | None:
        if self.client_reference_id is not None:
            return parse_user_id(self.client_reference_id)
        return metadata_user_id(self.metadata)


class PriceRef(_StripeModel):
    id: str


class SubscriptionItem(_StripeModel):
    id: str | None = None
    current_period_end: int | None = None
    price: PriceRef | None = None


class SubscriptionItems(_StripeModel):
    data: list[SubscriptionItem] = Field(default_factory=list)


class SubscriptionObject(_StripeModel):
    id: str
    object: str = "subscription"
    customer: str
    status: str
    created: int
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    current_period_end: int | None = None  # API versions before 2025-03-31
    items: SubscriptionItems = Field(default_factory=SubscriptionItems)
    metadata: dict[str, str] | None = None

    _ids = field_validator("customer", mode="before")(_expandable_id)

    @property
    def period_end(self) -> datetime | None:
        ends = [item.current_period_end for item in self.items.data if item.current_period_end is not None]
        if ends:
            return from_unix(max(ends))
        return from_unix(self.current_period_end)

    @property
    def price_ids(self) -> list[str]:
        return [item.price.id for item in self.items.data if item.price is not None]

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, tz=UTC)

    @property
    def cancel_at_time(self) -> datetime | None:
        return from_unix(self.cancel_at)


class SubscriptionDetails(_StripeModel):
    subscription: str | None = None
    metadata: dict[str, str] | None = None

    _ids = field_validator("subscription", mode="before")(_expandable_id)


class InvoiceParent(_StripeModel):
    type: str | None = None
    subscription_details: SubscriptionDetails | None = None


class InvoiceObject(_StripeModel):
    id: str
    object: str = "invoice"
    customer: str | None = None
    status: str | None = None
    created: int | None = None
    parent: InvoiceParent | None = None
    subscription: str | None = None  # API versions before 2025-03-31
    next_payment_attempt: int | None = None

    _ids = field_validator("customer", "subscription", mode="before")(_expandable_id)

    @property
    def subscription_id(self) -> str | None:
        if self.parent is not None and self.parent.subscription_details is not None:
            return self.parent.subscription_details.subscription or self.subscription
        return self.subscription

    @property
    def user_id(self) -> int | None:
        """The user named by the subscription's metadata, which Stripe copies onto its invoices."""
        if self.parent is not None and self.parent.subscription_details is not None:
            return metadata_user_id(self.parent.subscription_details.metadata)
        return None


class CustomerObject(_StripeModel):
    """A customer, or what `customer.deleted` carries (the object as it was when deleted)."""

    id: str
    object: str = "customer"
    deleted: bool = False
    metadata: dict[str, str] | None = None

    @property
    def user_id(self) -> int | None:
        return metadata_user_id(self.metadata)
