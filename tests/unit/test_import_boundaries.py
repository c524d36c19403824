"""The import-boundary contracts of `make lint` (import-linter, pyproject.toml) catch what they promise.

Each case copies the Python sources of functions/ and pyproject.toml into a temporary folder,
plants one forbidden import and runs `lint-imports` there: the contracts as configured must fail,
naming the import. The unplanted copy passes, so the failure is the planted line's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(target: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    shutil.copytree(
        ROOT / "functions",
        target / "functions",
        ignore=lambda folder, names: [n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()],
    )
    return target / "functions"


def _lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(folder / "functions")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _plant(path: Path, code: str) -> None:
    path.write_text(path.read_text() + code)


def test_the_copied_tree_passes(tmp_path: Path) -> None:
    # Given the sources as they are, When the contracts are checked, Then they are kept
    _copy_tree(tmp_path)
    result = _lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# (module, planted code, the import the check must report)
PLANTED = [
    # an import inside a function counts as much as one at module level
    (
        "ingest/logic.py",
        "\n\ndef _planted() -> None:\n    from alerts import logic  # noqa\n",
        "ingest.logic -> alerts.logic",
    ),
    ("wallet/handler.py", "\nimport migrations.logic  # noqa\n", "wallet.handler -> migrations.logic"),
    ("tidewatch/markets/service.py", "\nimport risk.logic  # noqa\n", "tidewatch.markets.service -> risk.logic"),
    ("tidewatch/billing/plans.py", "\nimport boto3  # noqa\n", "tidewatch.billing.plans -> boto3"),
    ("tidewatch/errors.py", "\nimport fastapi  # noqa\n", "tidewatch.errors -> fastapi"),
]


def test_each_planted_import_across_a_boundary_fails_the_check(tmp_path: Path) -> None:
    # Given a copy of the sources with forbidden imports planted: between function packages
    # (at module level and inside a function), from the core into a function package, and from
    # domain code into boto3 and FastAPI
    functions = _copy_tree(tmp_path)
    for module, planted, _ in PLANTED:
        _plant(functions / module, planted)
    # When the contracts are checked
    result = _lint_imports(tmp_path)
    # Then the check fails and names every planted import
    assert result.returncode == 1, result.stdout + result.stderr
    for _, _, reported in PLANTED:
        assert reported in result.stdout, (reported, result.stdout)
