"""Webhook deliveries against a real HTTP server on loopback: the egress policy at delivery,
pinned connections, redirects not followed, retries cancelled when the rule is deleted."""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.integration.rules.seeds import KEY, insert_rule, seed_user
from tidewatch.db import Database
from tidewatch.rules.egress import EgressPolicy, pinned_post
from tidewatch.rules.model import RuleSpec
from tidewatch.rules.repository import PostgresRules
from tidewatch.rules.service import RulesService
from tidewatch.rules.webhooks import SIGNATURE_HEADER, WebhookSender

pytestmark = pytest.mark.integration

LOOPBACK_ALLOWED = EgressPolicy(allow_loopback=True)


class _Hooks(BaseHTTPRequestHandler):
    """POST /hook answers `status`; POST /redirect answers 302 to `redirect_to` (GET too)."""

    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []
    status: ClassVar[int] = 200
    redirect_to: ClassVar[str] = ""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        _Hooks.seen.append((self.command, self.path, dict(self.headers)))
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", _Hooks.redirect_to)
        else:
            self.send_response(_Hooks.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = _answer
    do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[int]:
    _Hooks.seen = []
    _Hooks.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def hook_rule(db: Database, url: str) -> int:
    user_id, _ = seed_user(db)
    return insert_rule(
        db,
        user_id,
        {
            "name": "hook",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "below", "threshold": 0.5},
            "actions": [{"type": "webhook", "url": url}],
        },
    )


def test_a_redirect_is_not_followed_and_the_signed_body_goes_nowhere_else(db: Database, hooks: int) -> None:
    # Given a receiver that redirects to another path on the same (allowed) server
    _Hooks.redirect_to = f"http://127.0.0.1:{hooks}/hook?stolen=1"
    url = f"http://127.0.0.1:{hooks}/redirect"
    rule_id = hook_rule(db, url)
    sender = WebhookSender(db, KEY, egress=LOOPBACK_ALLOWED)
    # When the firing is delivered
    outcome = sender.send(rule_id, url, {"event": "rule.fired"})
    # Then exactly one request was made (the redirect was not followed), and the delivery failed
    # for good, saying why
    assert [(m, p) for m, p, _ in _Hooks.seen] == [("POST", "/redirect")]
    assert (outcome.status, outcome.response_code) == ("failed", 302)
    assert outcome.error is not None
    assert "redirect" in outcome.error
    assert "not followed" in outcome.error
    assert sender.retry_due() == []


def test_redirects_to_the_metadata_service_are_not_followed(db: Database, hooks: int) -> None:
    _Hooks.redirect_to = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    url = f"http://127.0.0.1:{hooks}/redirect"
    outcome = WebhookSender(db, KEY, egress=LOOPBACK_ALLOWED).send(hook_rule(db, url), url, {"event": "x"})
    assert outcome.status == "failed"
    assert len(_Hooks.seen) == 1


def test_the_connection_goes_to_the_checked_address_with_the_urls_host(db: Database, hooks: int) -> None:
    # Given a name whose first DNS answer is the (allowed) loopback server and whose second
    # answer would be a private address (DNS rebinding)
    answers = iter([["127.0.0.1"], ["10.0.0.9"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    url = f"http://hooks.example.test:{hooks}/hook"
    sender = WebhookSender(db, KEY, egress=EgressPolicy(allow_loopback=True, resolve=rebinding))
    # When a delivery is made
    outcome = sender.send(hook_rule(db, url), url, {"event": "rule.fired"})
    # Then the name was resolved once, the request reached the checked address, signed, with the
    # URL's host in the Host header
    assert outcome.status == "delivered"
    assert calls == ["hooks.example.test"]
    [(method, path, headers)] = _Hooks.seen
    assert (method, path) == ("POST", "/hook")
    assert headers["Host"] == f"hooks.example.test:{hooks}"
    assert SIGNATURE_HEADER in headers


def test_the_production_policy_refuses_loopback_at_delivery(db: Database, hooks: int) -> None:
    # Given a loopback URL stored past the API
    url = f"http://127.0.0.1:{hooks}/hook"
    outcome = WebhookSender(db, KEY).send(hook_rule(db, url), url, {"event": "rule.fired"})
    # Then nothing is sent and the delivery fails at once
    assert outcome.status == "failed"
    assert "loopback" in (outcome.error or "")
    assert _Hooks.seen == []


def test_deleting_a_rule_cancels_its_pending_retries(db: Database, hooks: int) -> None:
    # Given a delivery that failed once (503) and waits for its retry
    _Hooks.status = 503
    url = f"http://127.0.0.1:{hooks}/hook"
    rule_id = hook_rule(db, url)
    now = [1_800_000_000.0]
    sender = WebhookSender(db, KEY, egress=LOOPBACK_ALLOWED, backoff_base_seconds=30, clock=lambda: now[0])
    assert sender.send(rule_id, url, {"event": "rule.fired"}).status == "pending"
    # When the owner deletes the rule
    with db.connection() as conn:
        owner = conn.execute("SELECT user_id FROM rules WHERE id = %s", (rule_id,)).fetchone()
    assert owner
    RulesService(PostgresRules(db), signing_key=KEY).delete(int(owner["user_id"]), rule_id)
    # Then no retry is made, however long we wait, and the delivery says it was cancelled
    _Hooks.status = 200
    now[0] += 3600
    assert sender.retry_due() == []
    assert len(_Hooks.seen) == 1
    with db.connection() as conn:
        row = conn.execute("SELECT status, last_error FROM webhook_deliveries").fetchone()
    assert row == {"status": "failed", "last_error": "cancelled: the rule was deleted"}


def test_a_delivery_left_without_its_rule_is_never_signed_or_sent(db: Database, hooks: int) -> None:
    # Given a pending retry whose rule row is gone (deleted outside the API: rule_id is NULL)
    url = f"http://127.0.0.1:{hooks}/hook"
    with db.connection() as conn:
        row = conn.execute(
            "INSERT INTO webhook_deliveries (url, payload, attempt, next_attempt_at) "
            "VALUES (%s, '{}'::jsonb, 1, now() - interval '1 minute') RETURNING id",
            (url,),
        ).fetchone()
    assert row
    # When retries run
    [outcome] = WebhookSender(db, KEY, egress=LOOPBACK_ALLOWED).retry_due()
    # Then it is cancelled, not sent with some other rule's secret
    assert outcome.status == "failed"
    assert "deleted" in (outcome.error or "")
    assert _Hooks.seen == []


def _pro_user(db: Database) -> int:
    user_id, _ = seed_user(db)
    with db.connection() as conn:
        conn.execute("UPDATE users SET plan = 'pro' WHERE id = %s", (user_id,))
    return user_id


def _spec(url: str) -> RuleSpec:
    return RuleSpec.model_validate(
        {
            "name": "hook",
            "trigger": {"type": "market_apy", "market_id": 1, "op": "below", "threshold": 0.5},
            "actions": [{"type": "notify"}, {"type": "webhook", "url": url}],
        }
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2130706433/",
        "http://10.0.0.1/hook",
        "http://internal.corp.example/hook",
    ],
)
def test_rule_creation_refuses_targets_delivery_would_refuse(db: Database, url: str) -> None:
    from tidewatch.errors import InvalidInput

    # Given a Pro user and a policy whose DNS sends internal names to a private address
    user_id = _pro_user(db)
    service = RulesService(
        PostgresRules(db), signing_key=KEY, egress=EgressPolicy(resolve=lambda host, port: ["10.20.30.40"])
    )
    # When a rule posting to a non-public target is created
    with pytest.raises(InvalidInput) as refused:
        service.create(user_id, _spec(url))
    # Then it is refused naming the action's url, and nothing is stored
    problem: dict[str, Any] = refused.value.to_problem()
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == "actions.1.url"
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM rules").fetchone() == {"n": 0}


def test_rule_creation_and_patch_accept_public_targets(db: Database) -> None:
    user_id = _pro_user(db)
    service = RulesService(
        PostgresRules(db), signing_key=KEY, egress=EgressPolicy(resolve=lambda host, port: ["93.184.215.14"])
    )
    rule = service.create(user_id, _spec("https://hooks.example.com/in"))
    assert rule.webhook_secret is not None
    from tidewatch.errors import InvalidInput
    from tidewatch.rules.model import RulePatch

    with pytest.raises(InvalidInput):
        service.update(
            user_id,
            rule.id,
            RulePatch.model_validate({"actions": [{"type": "webhook", "url": "http://[fd00:ec2::254]/"}]}),
        )


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_https_to_the_pinned_address_keeps_the_host_name_for_sni_and_the_certificate(
    db: Database, tmp_path: Path
) -> None:
    # Given an https receiver on loopback whose certificate is for hooks.example.test
    name = "hooks.example.test"
    cert, key = _self_signed(tmp_path, name)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []
    server_tls.sni_callback = lambda sock, server_name, ctx: seen_sni.append(server_name)  # type: ignore[assignment,misc,return-value]
    _Hooks.seen = []
    _Hooks.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hooks)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = int(server.server_address[1])
        url = f"https://{name}:{port}/hook"
        client_tls = ssl.create_default_context(cafile=str(cert))
        sender = WebhookSender(
            db,
            KEY,
            egress=EgressPolicy(allow_loopback=True, resolve=lambda host, p: ["127.0.0.1"]),
            post=functools.partial(pinned_post, tls=client_tls),
        )
        # When a delivery is made (DNS says 127.0.0.1; the connection goes there)
        rule_id = hook_rule(db, url)
        outcome = sender.send(rule_id, url, {"event": "rule.fired"})
        # Then TLS verified the certificate against the URL's name, sent as SNI, and Host kept it
        assert outcome.status == "delivered", outcome.error
        assert seen_sni == [name]
        assert _Hooks.seen[0][2]["Host"] == f"{name}:{port}"
        # And a certificate for another name fails the delivery (no silent downgrade)
        other = f"https://other.example.test:{port}/hook"
        failed = sender.send(rule_id, other, {"event": "rule.fired"})
        assert failed.status == "pending"
        assert "certificate" in (failed.error or "").lower() or "hostname" in (failed.error or "").lower()
    finally:
        server.shutdown()
        server.server_close()
