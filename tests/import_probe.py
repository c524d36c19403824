"""What a fresh interpreter has loaded after one import statement (a cold start's imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules_after(
    statement: str, *, paths: tuple[str, ...] = ("functions",), timeout: float = 60, **env: str
) -> set[str]:
    """The full names in `sys.modules` after `statement` runs in a new interpreter whose path is
    `paths` (below the repository root) and whose environment is only PATH plus `env`."""
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": ":".join(str(ROOT / p) for p in paths), "PATH": "/usr/bin:/bin", **env},
        timeout=timeout,
    )
    return set(done.stdout.split())
