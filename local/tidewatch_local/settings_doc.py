"""Writes docs/configuration.md from the settings models themselves, so the table cannot drift.

    python -m tidewatch_local.settings_doc          # rewrite docs/configuration.md
A test checks that the committed file equals what this renders.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from pydantic_settings import BaseSettings

from tidewatch_local.template import REPO_ROOT

DOC_PATH = REPO_ROOT / "docs" / "configuration.md"
README_PATH = REPO_ROOT / "README.md"
START, END = "<!-- configuration:start -->", "<!-- configuration:end -->"

# Every settings module, by concern, in the order the document lists them.
MODULES = [
    ("Stores, chains and function calls", "tidewatch.settings"),
    ("Chain reads", "tidewatch.chain.settings"),
    ("History backfill", "tidewatch.backfill.settings"),
    ("HTTP API", "api.settings"),
    ("Sign-In with Ethereum and tokens", "tidewatch.identity.settings"),
    ("Billing (Stripe)", "tidewatch.billing.settings"),
    ("Rules and webhooks", "tidewatch.rules.settings"),
    ("Alerts (email, Telegram, Discord, Slack, Web Push)", "tidewatch.alerts.settings"),
    ("Live updates (WebSocket)", "tidewatch.live.settings"),
    ("Wallet (transactions)", "tidewatch.transactions.settings"),
    ("Models (risk function)", "risk.settings"),
    ("Model training (training function)", "training.settings"),
    ("Local run (`tidewatch dev`)", "tidewatch_local.gateway_processes"),
]


def _default(field: Any) -> str:
    if field.is_required():
        return "(required)"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "—"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    if isinstance(value, dict | list):
        try:
            text = json.dumps(value, default=lambda v: v.model_dump() if hasattr(v, "model_dump") else str(v))
        except TypeError:
            text = str(value)
        if any(hasattr(v, "get_secret_value") for v in (value.values() if isinstance(value, dict) else value)):
            return "(secret)"
        return f"`{text}`"
    return f"`{value}`"


def _settings_classes(module_name: str) -> list[type[BaseSettings]]:
    module = importlib.import_module(module_name)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings
        and value.__module__ == module_name
    ]  # fmt: skip
    return found


def render_tables() -> str:
    lines: list[str] = []
    for title, module_name in MODULES:
        for cls in _settings_classes(module_name):
            prefix = str(cls.model_config.get("env_prefix", ""))
            lines += [f"#### {title} — `{cls.__name__}`", "", "| variable | default | meaning |", "| --- | --- | --- |"]
            for name, field in cls.model_fields.items():
                description = (field.description or "").replace("|", "\\|")
                lines.append(f"| `{(prefix + name).upper()}` | {_default(field)} | {description} |")
            lines.append("")
    return "\n".join(lines)


def render_readme(readme: str) -> str:
    """The README with its configuration section replaced by the generated tables."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render_tables()}\n{END}{tail}"


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable (generated from the settings models by",
        "`python -m tidewatch_local.settings_doc`; a test keeps this file current). Secrets can be",
        "given directly (local run) or as a Secrets Manager ARN / `ssm:/path` reference (the",
        "`*_SECRET_ARN` variables), resolved through Powertools Parameters and cached for 5 minutes.",
        "In AWS, template.yaml sets them per function; the local run (`tidewatch dev`) sets the",
        "stores, devnet, site and local secrets itself. Powertools reads `POWERTOOLS_SERVICE_NAME`,",
        "`POWERTOOLS_METRICS_NAMESPACE`, `POWERTOOLS_TRACE_DISABLED` and `LOG_LEVEL`.",
        "",
    ]
    return "\n".join(lines) + render_tables().replace("#### ", "## ")


def main() -> int:
    DOC_PATH.write_text(render())
    README_PATH.write_text(render_readme(README_PATH.read_text()))
    print(f"wrote {DOC_PATH} and the configuration section of {README_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
