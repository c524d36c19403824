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


# What Lambda's python3.13 runtime itself puts on the path (/var/runtime): boto3 and its own
# dependencies, and the SnapStart hooks module.
RUNTIME_PROVIDED = {"boto3", "botocore", "urllib3", "s3transfer", "jmespath", "dateutil", "six", "snapshot_restore_py"}
# A function package imports only the core, never another function package (functions reach each
# other through the invoker: `tidewatch.invoke` names their handlers as strings).
LOCAL_ONLY_CROSS_IMPORTS: dict[tuple[str, str], str] = {}


def _imports(tree: ast.AST) -> list[str]:
    """Every absolute import in a module: at module level and inside functions (lazy imports)."""
    targets: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return targets


def _reachable_imports(handler_module: str) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Third-party imports reachable from the handler module through first-party code, each with the
    modules importing it, and the imports of another function's package (importer, package).

    Lazy imports count: Lambda runs them on the first request that takes their path, where a
    missing module is a 500 instead of a failed deploy. Another function's package is not
    followed: it is not the code this function runs in AWS.
    """
    own = handler_module.split(".")[0]
    found: dict[str, set[str]] = {}
    crossings: set[tuple[str, str]] = set()
    seen: set[str] = set()
    pending = [handler_module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(name)
        if path is None:
            continue
        for target in _imports(ast.parse(path.read_text())):
            top = target.split(".")[0]
            if top in FIRST_PARTY and top not in {own, "tidewatch"}:
                crossings.add((name, top))
            elif top in FIRST_PARTY:
                pending += [target, target.rsplit(".", 1)[0]]
            elif top not in STDLIB and top != "__future__":
                found.setdefault(top, set()).add(name)
    return found, crossings


@pytest.mark.parametrize("spec", TEMPLATE.functions.values(), ids=lambda s: s.logical_id)
def test_every_handler_resolves_to_an_importable_callable(spec) -> None:
    # Given a function in the template
    module_name, _, attribute = spec.handler.rpartition(".")
    # When its handler module is imported from functions/ (the CodeUri)
    module = importlib.import_module(module_name)
    # Then the named handler is a callable
    assert callable(getattr(module, attribute))


@pytest.mark.parametrize("spec", TEMPLATE.functions.values(), ids=lambda s: s.logical_id)
def test_layers_cover_every_third_party_import_lazy_ones_included(spec) -> None:
    # Given a function, its layers and everything its handler can import, on any request path
    declared: set[str] = set()
    for layer in spec.layers:
        declared |= _layer_packages(layer)
    provided = _closure(declared)
    imports, _ = _reachable_imports(spec.handler.rpartition(".")[0])
    # Then every third-party import comes from one of its layers or from the Lambda runtime
    missing = {
        name: sorted(importers)
        for name, importers in imports.items()
        if name not in RUNTIME_PROVIDED
        and not {d.lower().replace("_", "-") for d in PROVIDERS.get(name, [name])} & provided
    }
    assert not missing, f"{spec.logical_id}: its layers lack {missing} (module: imported by)"


@pytest.mark.parametrize("spec", TEMPLATE.functions.values(), ids=lambda s: s.logical_id)
def test_a_function_imports_no_other_function_package(spec) -> None:
    # Given everything a function's handler can import
    _, crossings = _reachable_imports(spec.handler.rpartition(".")[0])
    # Then it reaches no other function's package, except on the local-only paths listed
    assert crossings <= LOCAL_ONLY_CROSS_IMPORTS.keys(), sorted(crossings - LOCAL_ONLY_CROSS_IMPORTS.keys())


def test_the_chain_layer_ships_only_what_functions_import() -> None:
    # Given every function that has the chain layer, and what each can import
    users = [spec for spec in TEMPLATE.functions.values() if "ChainLayer" in spec.layers]
    imported: set[str] = set()
    for spec in users:
        imported |= _reachable_imports(spec.handler.rpartition(".")[0])[0].keys()
    # Then each distribution the layer names is imported by one of them (web3 is the local devnet's)
    for name in _layer_packages("ChainLayer"):
        modules = {m for m, dists in PROVIDERS.items() if name in {d.lower().replace("_", "-") for d in dists}}
        assert modules & imported, f"the chain layer ships {name}, which no function imports"


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


def test_snapstart_functions_are_reached_through_their_alias() -> None:
    # Given the template
    resources = TEMPLATE.raw["Resources"]
    # Then api, websocket and risk publish versions with SnapStart, switchable by one parameter
    for name in ("ApiFunction", "WebSocketFunction", "RiskFunction"):
        props = resources[name]["Properties"]
        assert props["AutoPublishAlias"] == "live"
        assert props["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}
    # And every caller names the alias ($LATEST has no snapshot)
    for caller in ("ApiFunction", "RulesFunction", "RulesShardFunction"):
        props = resources[caller]["Properties"]
        assert props["Environment"]["Variables"]["TIDEWATCH_RISK_FUNCTION_NAME"] == {"Ref": "RiskFunction.Alias"}
        statements = props["Policies"][0]["Statement"]
        invoke = next(s for s in statements if s["Sid"].startswith("InvokeRisk"))
        assert {"Ref": "RiskFunction.Alias"} in invoke["Resource"]
    # And the rules functions hand broadcast chunks to the WebSocket function's alias
    for caller in ("RulesFunction", "RulesShardFunction"):
        props = resources[caller]["Properties"]
        assert props["Environment"]["Variables"]["TIDEWATCH_PUSH_FUNCTION_NAME"] == {"Ref": "WebSocketFunction.Alias"}
    assert (
        "${WebSocketFunctionAliaslive}" in resources["WebSocketIntegration"]["Properties"]["IntegrationUri"]["Fn::Sub"]
    )
    assert resources["WebSocketInvokePermission"]["Properties"]["FunctionName"] == {"Ref": "WebSocketFunction.Alias"}
