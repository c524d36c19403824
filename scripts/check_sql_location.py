"""Refuse SQL outside the repository modules: services take a repository port and hold no SQL.

    python scripts/check_sql_location.py [--count] [PATH ...]    # default: functions

Parses every Python module and reads each string literal (an f-string counts as one literal,
implicitly joined strings are one literal, docstrings are skipped). A literal is SQL when it starts
with an upper-case statement keyword followed by white space (`SELECT `, `INSERT `, `UPDATE `,
`WITH `, `SET `, ...), the way every statement in this code base is written; prose such as
"create the customer" is lower case and does not match.

SQL may sit in a module named `repository.py` and in the modules of `ALLOWED`, each with its reason.
Exit status 1 lists each other literal as `path:line: text`. `--count` prints the number of SQL
literals per module outside the repositories (allowed ones included, marked) and exits 0: the
figure the issue's before/after counts are taken with.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("functions",)
SKIPPED_DIRS = {"node_modules", "__pycache__", ".venv"}
REPOSITORY_NAME = "repository.py"

# Modules outside a repository that may hold SQL, relative to the repository root, with why.
ALLOWED: dict[str, str] = {
    "functions/tidewatch/migrate.py": (
        "the migrations runner: its own bookkeeping table and advisory lock, run before the schema "
        "any repository reads exists"
    ),
    "functions/tidewatch/db.py": (
        "the connection adapter: session settings (statement_timeout) and the liveness ping of pooled "
        "connections, not data access"
    ),
}

SQL_START = re.compile(
    r"^\s*\(?\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|TRUNCATE|LOCK|VALUES|COPY|LISTEN|NOTIFY|SET)\s"
)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        first = self.text.strip().splitlines()[0]
        return f"{self.path}:{self.line}: {first[:80]}"


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but docstrings; an f-string's holes read as `{}`."""
    skipped = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(part) for part in node.values)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(str(p.value) if isinstance(p, ast.Constant) else "{}" for p in node.values)
            yield node.lineno, text


def sql_literals(path: Path, source: str) -> list[Finding]:
    """The SQL string literals of one module, in line order."""
    found = [Finding(path, line, text) for line, text in _literals(ast.parse(source)) if SQL_START.match(text)]
    return sorted(found, key=lambda f: f.line)


def is_repository(path: Path) -> bool:
    return path.name == REPOSITORY_NAME


def allowed_reason(path: Path) -> str | None:
    try:
        relative = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None
    return ALLOWED.get(relative)


def files_under(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for candidate in sorted(path.rglob("*.py")):
            if not SKIPPED_DIRS.intersection(candidate.parts):
                yield candidate


def outside_repositories(paths: Iterable[Path]) -> dict[Path, list[Finding]]:
    """SQL literals by module, for every module that is not a repository (allowed ones included)."""
    found: dict[Path, list[Finding]] = {}
    for path in files_under(paths):
        if is_repository(path):
            continue
        literals = sql_literals(path, path.read_text(encoding="utf-8"))
        if literals:
            found[path] = literals
    return found


def check(paths: Iterable[Path]) -> list[Finding]:
    """The SQL literals that are neither in a repository nor in an allowed module."""
    return [
        finding
        for path, literals in outside_repositories(paths).items()
        if allowed_reason(path) is None
        for finding in literals
    ]


def main(argv: list[str]) -> int:
    count = "--count" in argv
    paths = [Path(a) for a in argv if a != "--count"] or [ROOT / p for p in DEFAULT_PATHS]
    if count:
        by_module = outside_repositories(paths)
        for path, literals in sorted(by_module.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
            mark = "  (allowed)" if allowed_reason(path) else ""
            print(f"{len(literals):4d}  {path}{mark}")
        total = sum(len(v) for v in by_module.values())
        allowed = sum(len(v) for p, v in by_module.items() if allowed_reason(p))
        print(f"{total} SQL literal(s) outside repository modules, {allowed} of them in allowed modules")
        return 0
    found = check(paths)
    for finding in found:
        print(finding)
    if found:
        print(
            f"{len(found)} SQL literal(s) outside a repository.py: move the statement into the area's "
            "repository and call it through the service's port",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
