"""Domain errors: each has a stable problem `type`, a title and an HTTP status.

The API turns them into RFC 9457 problem documents in one place; non-HTTP functions turn them into
a typed error envelope. Nothing below this module knows about HTTP frameworks.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://tidewatch.dev/problems/"


class DomainError(Exception):
    """A failure the caller can understand and act on (never a programming error)."""

    type_slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, *, slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.slug = slug or self.type_slug
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        problem.update(self.extra)
        return problem


class BadRequest(DomainError):
    type_slug = "bad-request"
    title = "Bad request"
    status = 400


class InvalidInput(DomainError):
    """Input that parsed but breaks a rule; `errors` names the offending fields."""

    type_slug = "validation-error"
    title = "Validation failed"
    status = 422


class Unauthorized(DomainError):
    type_slug = "unauthorized"
    title = "Authentication required"
    status = 401


class Forbidden(DomainError):
    type_slug = "forbidden"
    title = "Forbidden"
    status = 403


class NotFound(DomainError):
    type_slug = "not-found"
    title = "Not found"
    status = 404


class Conflict(DomainError):
    type_slug = "conflict"
    title = "Conflict"
    status = 409


class PaymentRequired(DomainError):
    """The user's plan does not include this (entitlement exceeded)."""

    type_slug = "plan-limit"
    title = "Plan limit reached"
    status = 402


class RateLimited(DomainError):
    type_slug = "rate-limited"
    title = "Too many requests"
    status = 429


class UpstreamUnavailable(DomainError):
    """A dependency (RPC node, database, Stripe) failed and nothing stale could be served."""

    type_slug = "upstream-unavailable"
    title = "Upstream unavailable"
    status = 503
