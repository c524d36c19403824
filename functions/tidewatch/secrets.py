"""Secrets: from Secrets Manager / SSM through Powertools Parameters (cached), or given directly.

Powertools (and through it boto3) is imported only when a secret reference is configured, so the
local run and the tests never touch AWS.
"""

from __future__ import annotations

import json
from typing import Any

# Secrets are re-read at most this often per container, so a rotation takes effect within it.
SECRET_MAX_AGE_SECONDS = 300


def fetch_secret(reference: str) -> str:
    """The secret's string value: an ARN/name in Secrets Manager, or `ssm:/path` in SSM."""
    if reference.startswith("ssm:"):
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_parameter(reference[4:], decrypt=True, max_age=SECRET_MAX_AGE_SECONDS))
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(reference, max_age=SECRET_MAX_AGE_SECONDS))


def fetch_json_secret(reference: str) -> dict[str, Any]:
    value = json.loads(fetch_secret(reference))
    if not isinstance(value, dict):
        raise ValueError(f"secret {reference} is not a JSON object")
    return value


def database_url_from_secret(reference: str, host: str | None = None) -> str:
    """Build a libpq URL from an RDS-style secret (username, password, host, port, dbname).

    `host` replaces the secret's host: the secret names the instance, the functions reach it
    through RDS Proxy.
    """
    from urllib.parse import quote

    s = fetch_json_secret(reference)
    return (
        f"postgresql://{quote(str(s['username']))}:{quote(str(s['password']))}"
        f"@{host or s['host']}:{s.get('port', 5432)}/{s.get('dbname', 'tidewatch')}?sslmode=require"
    )
