"""Compiles, in a sam build folder, the bytecode of the modules each function imports at cold start.

Lambda's /var/task and /opt are read-only and `sam build` ships source only, so every module a
cold start imports is compiled again at every cold start (2.6-2.9x the import time). Compiling
everything would put the api over the 250 MB unzipped limit; the modules a handler imports at
cold start are a small part of its layers. Their names are collected by importing each handler
in a fresh interpreter of the project venv, then running its SnapStart before-snapshot hooks,
which import what the handler leaves to first use but nearly every first request needs (the
database driver, the Redis client, the api's routers: D44, D52) (module names do not depend on the architecture, so
this serves the arm64 build too); each name's source in the function's code folder or one of its
layers' python/ folders is compiled to __pycache__ with unchecked-hash invalidation (zipping
does not keep the source timestamps a timestamp pyc compares).

    python scripts/compile-cold-path.py BUILD_DIR
"""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "functions")]

from tidewatch_local.package_test import worker_specs  # noqa: E402
from tidewatch_local.template import read_template  # noqa: E402

COLLECT = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
snapstart = sys.modules.get("tidewatch.snapstart")
if snapstart is not None:
    snapstart.run_before_snapshot()
print(json.dumps(sorted(n for n, m in list(sys.modules.items()) if (getattr(m, "__file__", "") or "").endswith(".py"))))
"""

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONPATH": str(ROOT / "functions"),
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Build",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def cold_modules(module: str) -> list[str]:
    # Our own interpreter on the template's own handler modules.
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", COLLECT, module],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
        cwd=ROOT,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def source_of(name: str, folders: list[Path]) -> Path | None:
    parts = name.split(".")
    for folder in folders:
        for candidate in (folder.joinpath(*parts, "__init__.py"), folder.joinpath(*parts).with_suffix(".py")):
            if candidate.is_file():
                return candidate
    return None


def main(build_dir: str) -> int:
    build = Path(build_dir).resolve()
    template = read_template()
    specs = worker_specs(template, build, build / "no-runtime")
    compiled: set[Path] = set()
    for spec in template.functions.values():
        folders = [Path(p) for p in specs[spec.short_name]["path"] if Path(p).is_relative_to(build)]
        names = cold_modules(spec.handler.rpartition(".")[0])
        files = {f for f in (source_of(n, folders) for n in names) if f is not None}
        for source in sorted(files - compiled):
            py_compile.compile(
                str(source),
                cfile=importlib.util.cache_from_source(str(source)),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        compiled |= files
        print(f"{spec.logical_id:<22}{len(files):5d} cold-start modules compiled")
    size = sum(Path(importlib.util.cache_from_source(str(f))).stat().st_size for f in compiled)
    print(f"bytecode added: {len(compiled)} files, {size / 1_000_000:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"))
