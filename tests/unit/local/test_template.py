"""The template is the source of truth: every handler resolves, and layers cover what it imports."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from tidewatch_local.template import REPO_ROOT, read_template

TEMPLATE = read_template()
FUNCTIONS_DIR = REPO_ROOT / "functions"
FIRST_PARTY = {p.name for p in FUNCTIONS_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
STDLIB = set(sys.stdlib_module_names)

# Import name → the distributions that provide it (as installed here).
PROVIDERS = importlib.metadata.packages_distributions()


def _closure(names: set[str]) -> set[str]:
    """The distributions named plus everything they depend on (what pip puts in the layer)."""
    seen: set[str] = set()
    pending = [n.lower().replace("_", "-") for n in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            if "extra ==" in requirement:
                continue
            dep = re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0]
            pending.append(dep.lower().replace("_", "-"))
    return seen


def _layer_packages(layer_logical_id: str) -> set[str]:
    resource = TEMPLATE.raw["Resources"][layer_logical_id]
    requirements = REPO_ROOT / resource["Properties"]["ContentUri"] / "requirements.txt"
    names = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = line.split(";")[0]
            for sep in ("[", "=", "<", ">", "~", "!"):
                name = name.split(sep)[0]
            names.add(name.strip().lower())
    return names


def _module_path(module: str) -> Path | None:
    base = FUNCTIONS_DIR.joinpath(*module.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _third_party_imports(module: str) -> set[str]:
    """Top-level third-party imports made at import time by `module` and the first-party modules it imports.

    Imports inside functions are lazy by design (loaded only on that code path) and do not count.
    """
    seen: set[str] = set()
    found: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(name)
        if path is None:
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                top = target.split(".")[0]
                if top in FIRST_PARTY:
                    pending.append(target)
                    parent = target.rsplit(".", 1)[0]
                    pending.append(parent)
                elif top not in STDLIB and top != "__future__":
                    found.add(top)
    return found


@pytest.mark.parametrize("spec", TEMPLATE.functions.values(), ids=lambda s: s.logical_id)
def test_every_handler_resolves_to_an_importable_callable(spec) -> None:
    # Given a function in the template
    module_name, _, attribute = spec.handler.rpartition(".")
    # When its handler module is imported from functions/ (the CodeUri)
    module = importlib.import_module(module_name)
    # Then the named handler is a callable
    assert callable(getattr(module, attribute))


@pytest.mark.parametrize("spec", TEMPLATE.functions.values(), ids=lambda s: s.logical_id)
def test_layers_cover_every_third_party_import(spec) -> None:
    # Given a function, its layers and what its handler imports at cold start
    declared: set[str] = set()
    for layer in spec.layers:
        declared |= _layer_packages(layer)
    provided = _closure(declared)
    imports = _third_party_imports(spec.handler.rpartition(".")[0])
    # Then every third-party import comes from one of its layers (the runtime has boto3 itself)
    missing = {
        name
        for name in imports
        if name != "boto3" and not {d.lower().replace("_", "-") for d in PROVIDERS.get(name, [name])} & provided
    }
    assert not missing, f"{spec.logical_id} imports {sorted(missing)} but its layers do not provide them"


def test_template_routes_and_schedules_are_read() -> None:
    # Given the template / Then the local gateway sees the routes and schedules it declares
    assert TEMPLATE.match_http("GET", "/health") is not None
    assert TEMPLATE.match_http("GET", "/no-such-route") is None
    assert {s.function for s in TEMPLATE.schedules} >= {"IngestFunction", "RulesFunction"}
    assert all(s.interval_seconds for s in TEMPLATE.schedules if s.expression.startswith("rate("))
    assert set(TEMPLATE.websocket_routes) == {"$connect", "$disconnect", "$default"}


def test_every_function_runs_python313_on_the_architecture_parameter() -> None:
    # Given the template / Then every function and layer is python3.13 on the Architecture parameter (arm64)
    globals_fn = TEMPLATE.raw["Globals"]["Function"]
    assert globals_fn["Runtime"] == "python3.13"
    assert globals_fn["Architectures"] == [{"Ref": "Architecture"}]
    assert TEMPLATE.raw["Parameters"]["Architecture"]["Default"] == "arm64"
    for resource in TEMPLATE.raw["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert resource["Properties"]["CompatibleRuntimes"] == ["python3.13"]
            assert resource["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": {"Ref": "Architecture"}}
    assert globals_fn["CodeUri"] == "functions/"
    for resource in TEMPLATE.raw["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            assert "CodeUri" not in resource["Properties"], "every function shares functions/ as CodeUri"
