"""Routes reach their collaborators only through the typed aliases of `api.deps`."""

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[3] / "functions" / "api"


def _state_reads(path: Path) -> list[int]:
    """Lines that read `<app or request>.state` (writes such as `request.state.user_id = ...` aside)."""
    tree = ast.parse(path.read_text())
    written = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
    }
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "state" and id(node) not in written
    ]


def test_no_router_reads_app_or_request_state() -> None:
    # Given every router module of the api
    routers = sorted((API / "routers").glob("*.py"))
    assert len(routers) > 5
    # Then none reads collaborators off app.state or request.state
    found = {path.name: lines for path in routers if (lines := _state_reads(path))}
    assert found == {}


def test_the_app_services_are_read_in_one_place() -> None:
    # Given every module of the api package
    modules = sorted(API.rglob("*.py"))
    # Then only api.deps.services reads state off the app (`services_of`)
    found = {str(path.relative_to(API)): lines for path in modules if (lines := _state_reads(path))}
    assert list(found) == ["deps/services.py"]
    assert len(found["deps/services.py"]) == 1
