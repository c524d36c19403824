"""Reads template.yaml: functions, their handlers and environment, HTTP routes, WebSocket routes and
schedules. The local gateway, the local invoker and the template tests all use this one reader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as plain data."""


def _tag_constructor(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag_constructor)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or ANY
    path: str  # as in the template, e.g. /portfolios/{id}
    function: str
    _regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def build(cls, method: str, path: str, function: str) -> HttpRoute:
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{") and part.endswith("+}"):
                pattern += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                pattern += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                pattern += re.escape(part)
        return cls(method.upper(), path, function, re.compile(f"^{pattern}$"))

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method.upper()):
            return None
        found = self._regex.match(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Schedule:
    function: str
    expression: str  # rate(...) or cron(...)
    name: str
    input: dict[str, Any] | None = None  # the schedule's `Input`: EventBridge sends it instead of the event

    @property
    def interval_seconds(self) -> float | None:
        found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", self.expression.strip())
        if not found:
            return None
        unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
        return int(found.group(1)) * unit


@dataclass(frozen=True)
class EventRule:
    """An EventBridge rule (function event of type EventBridgeRule) with its event pattern."""

    function: str
    pattern: dict[str, Any]

    def matches(self, event: dict[str, Any]) -> bool:
        # The subset of EventBridge pattern matching the template uses: field → list of values.
        for field_name, allowed in self.pattern.items():
            if isinstance(allowed, list) and event.get(field_name) not in allowed:
                return False
        return True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str  # module.attribute
    environment: dict[str, Any]
    layers: list[str]
    memory_mb: int
    timeout_s: int

    @property
    def short_name(self) -> str:
        return self.logical_id.removesuffix("Function").lower()


@dataclass
class TemplateModel:
    raw: dict[str, Any]
    functions: dict[str, FunctionSpec]
    http_routes: list[HttpRoute]
    websocket_routes: dict[str, str]  # route key → function logical id
    schedules: list[Schedule]
    event_rules: list[EventRule] = field(default_factory=list)

    def function(self, name: str) -> FunctionSpec:
        """Look up by logical id (ApiFunction) or short name (api)."""
        for spec in self.functions.values():
            if name in (spec.logical_id, spec.short_name):
                return spec
        known = ", ".join(sorted(s.short_name for s in self.functions.values()))
        raise KeyError(f"no function {name!r} in template.yaml (known: {known})")

    def match_http(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        # Literal segments win over parameters, as in API Gateway: try the most specific first.
        for route in sorted(self.http_routes, key=lambda r: (r.path.count("{"), r.method == "ANY")):
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None


def _resolve_scalar(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "Ref" in value and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return value


def _plain_env(variables: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    env = {}
    for key, value in variables.items():
        resolved = _resolve_scalar(value, parameters)
        if isinstance(resolved, str | int | float):
            env[key] = str(resolved)
    return env


def parse_template(raw: dict[str, Any]) -> TemplateModel:
    parameters = {k: v.get("Default") for k, v in raw.get("Parameters", {}).items()}
    globals_fn = raw.get("Globals", {}).get("Function", {})
    global_env = globals_fn.get("Environment", {}).get("Variables", {})
    functions: dict[str, FunctionSpec] = {}
    routes: list[HttpRoute] = []
    schedules: list[Schedule] = []
    websocket: dict[str, str] = {}
    event_rules: list[EventRule] = []
    resources = raw.get("Resources", {})
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        layers = [layer.get("Ref", "") if isinstance(layer, dict) else str(layer) for layer in props.get("Layers", [])]
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=props["Handler"],
            environment=_plain_env(env, parameters),
            layers=layers,
            memory_mb=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
            timeout_s=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        )
        for event_id, event in props.get("Events", {}).items():
            ev_props = event.get("Properties", {})
            if event.get("Type") == "HttpApi":
                routes.append(HttpRoute.build(ev_props.get("Method", "ANY"), ev_props["Path"], logical_id))
            elif event.get("Type") == "EventBridgeRule" and isinstance(ev_props.get("Pattern"), dict):
                event_rules.append(EventRule(logical_id, ev_props["Pattern"]))
            elif event.get("Type") == "Schedule":
                expression = _resolve_scalar(ev_props["Schedule"], parameters)
                raw_input = ev_props.get("Input")
                payload = json.loads(raw_input) if isinstance(raw_input, str) else None
                schedules.append(Schedule(logical_id, str(expression), f"{logical_id}-{event_id}", payload))
    # WebSocket routes: Route → Integration → function (through the integration's URI).
    integrations = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::ApiGatewayV2::Integration":
            uri = str(resource.get("Properties", {}).get("IntegrationUri", ""))
            target = next((fn for fn in functions if f"${{{fn}.Arn}}" in uri or fn in uri), None)
            if target:
                integrations[logical_id] = target
    for resource in resources.values():
        if resource.get("Type") == "AWS::ApiGatewayV2::Route":
            props = resource.get("Properties", {})
            target = str(props.get("Target", ""))
            for integration, fn in integrations.items():
                if integration in target:
                    websocket[props["RouteKey"]] = fn
    return TemplateModel(raw, functions, routes, websocket, schedules, event_rules)


def read_template(path: Path = TEMPLATE_PATH) -> TemplateModel:
    return parse_template(load_template(path))
