"""The committed OpenAPI document is the app's, and docs/api.md mentions every route."""

import json
from pathlib import Path

from tidewatch_local.openapi_doc import DOCS_PATH, documentation_app, render

API_MD = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def test_committed_openapi_is_current() -> None:
    # If this fails: PYTHONPATH=functions:local python -m tidewatch_local.openapi_doc
    assert DOCS_PATH.read_text() == render(documentation_app())


def test_every_error_response_is_a_problem_document() -> None:
    spec = json.loads(DOCS_PATH.read_text())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    # Pages opened from an alert mail's link may also answer a refusal as HTML.
                    assert next(iter(response["content"])) == "application/problem+json", (method, path, status)
                    assert set(response["content"]) <= {"application/problem+json", "text/html"}, (method, path)


def test_protected_routes_declare_bearer_security() -> None:
    spec = json.loads(DOCS_PATH.read_text())
    public = {
        ("get", "/health"),
        ("get", "/auth/nonce"),
        ("post", "/auth/verify"),
        ("post", "/auth/refresh"),
        ("post", "/webhooks/stripe"),  # authenticated by Stripe's signature over the raw body
        # Public read-only market data and on-chain positions, rate-limited per client IP.
        ("get", "/markets"),
        ("get", "/markets/{market_id}"),
        ("get", "/markets/{market_id}/history"),
        ("get", "/positions/{address}"),
        ("post", "/alerts/telegram/webhook"),  # authenticated by Telegram's secret-token header
        ("get", "/alerts/email/verify"),  # the signed link is the credential
        ("get", "/alerts/unsubscribe"),
        ("post", "/alerts/unsubscribe"),
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert ("security" in operation) != ((method, path) in public), (method, path)


def test_api_md_lists_every_route() -> None:
    spec = json.loads(DOCS_PATH.read_text())
    text = API_MD.read_text()
    for path, item in spec["paths"].items():
        for method in item:
            assert f"`{method.upper()} {path}`" in text, f"{method.upper()} {path} missing from docs/api.md"
