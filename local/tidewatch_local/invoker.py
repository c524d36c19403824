"""Runs a function's handler on an event as Lambda would (the Docker-free `sam local invoke`).

The handler is resolved from template.yaml, imported from functions/ exactly as Lambda imports it
(functions/ is the CodeUri), and called with a Lambda-shaped context. The result is returned as
Lambda would serialise it (JSON).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidewatch_local.context import LocalLambdaContext
from tidewatch_local.template import REPO_ROOT, FunctionSpec, TemplateModel, read_template

FUNCTIONS_DIR = REPO_ROOT / "functions"

Handler = Callable[[dict[str, Any], Any], Any]


class InvokeError(Exception):
    """The invocation could not be made (unknown function, unreadable event): a CLI message."""


def ensure_code_path() -> None:
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))


def load_handler(spec: FunctionSpec) -> Handler:
    ensure_code_path()
    module_name, _, attribute = spec.handler.rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise InvokeError(f"{spec.handler} is not a callable in functions/")
    return handler


def read_event(path: Path) -> dict[str, Any]:
    try:
        event = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvokeError(f"event file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise InvokeError(f"event file {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(event, dict):
        raise InvokeError(f"event file {path} must hold a JSON object")
    return event


class LocalInvoker:
    """Invokes handlers in-process; also the local implementation of function-to-function calls."""

    def __init__(self, template: TemplateModel | None = None) -> None:
        self.template = template or read_template()
        self._handlers: dict[str, Handler] = {}

    def handler(self, name: str) -> tuple[FunctionSpec, Handler]:
        try:
            spec = self.template.function(name)
        except KeyError as exc:
            raise InvokeError(str(exc.args[0])) from exc
        if spec.logical_id not in self._handlers:
            self._handlers[spec.logical_id] = load_handler(spec)
        return spec, self._handlers[spec.logical_id]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        spec, handler = self.handler(name)
        context = LocalLambdaContext(
            function_name=spec.logical_id, memory_limit_in_mb=spec.memory_mb, timeout_s=spec.timeout_s
        )
        result = handler(event, context)
        # Lambda returns what json.dumps makes of the result; do the same so surprises show here.
        return json.loads(json.dumps(result, default=str))
