"""Cold-start import time of each function's handler module, beside importing every dependency.

Each figure is the median (and, for the api, the minimum) of several fresh interpreter
processes (what a Lambda cold start pays for imports), measured three ways in one run:
  venv      the project virtualenv, bytecode cached (what the tests see);
  package   the built package (sam build, x86_64: `make package-test` builds it, with the
            bytecode of each function's cold-start modules, scripts/compile-cold-path.py, as
            `make sam-build` ships it) in an isolated interpreter (-I -S) whose path is only the
            function's code, its layers and the runtime's packages, writing no bytecode (-B):
            what Lambda runs, where /var/task and /opt are read-only;
  source    the same package without any bytecode: every imported module is compiled at every
            cold start (what `sam build` alone ships).
The api is also measured from the package with tracing on (in Lambda, POWERTOOLS_TRACE_DISABLED
unset: the X-Ray SDK is imported); every other figure has tracing off.
Figures are the import's CPU time (time.process_time): on a shared machine wall time grows with
the load, CPU time much less; the wall-clock median and the load average are printed beside.
For the package, `process` is the whole interpreter's CPU time (user+sys of the reaped child,
getrusage(RUSAGE_CHILDREN): start-up, imports, exit) and `wall` the import's wall-clock median.
Targets: each function at most half of "everything" (venv); the api ≤ 400 ms from the package.
Python 3.11 reference figures (venv): api 543 ms, everything 1.43 s.

    python bench/bench_coldstart.py [--runs 7] [--build .aws-sam/build-x86_64] [--function ApiFunction]
        [--code DIR] [--compare DIR]

--code DIR imports each handler from DIR (e.g. `functions`, with the venv's bytecode) instead of
the build's code folder, with the built layers: a code change measured without rebuilding.
--compare DIR adds, for each function, paired runs: one process of the package's code folder and
one of DIR in turn, so both see the same load (median / fastest of each, package CPU ms).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "functions")]

from tidewatch_local.package_test import worker_specs  # noqa: E402
from tidewatch_local.template import read_template  # noqa: E402

PY311 = {"ApiFunction": 0.543, "everything": 1.43}

EVERYTHING = [
    "pydantic", "pydantic_settings", "aws_lambda_powertools", "psycopg", "psycopg_pool", "redis",
    "fastapi", "mangum", "jwt", "eth_account", "stripe", "web3", "numpy", "scipy", "sklearn", "boto3",
]  # fmt: skip

TIMER = """
import time, importlib, sys
start, cpu = time.perf_counter(), time.process_time()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(time.process_time() - cpu, time.perf_counter() - start)
"""

ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT / "functions"),
    "PYTHONDONTWRITEBYTECODE": "0",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


SAMPLES: list[tuple[float, float]] = []  # (CPU, wall) of every import, for the summary line
PROCESS: dict[str, list[float]] = {}  # label -> user+sys CPU of each whole process (os.wait4)


def _sample(out: str) -> float:
    cpu, wall = map(float, out.strip().splitlines()[-1].split())
    SAMPLES.append((cpu, wall))
    return cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], env: dict[str, str], cwd: Path | str, label: str) -> str:
    """Runs one fresh interpreter and returns its output (the import's CPU and wall seconds).
    Its whole CPU time (user+sys of the reaped child: start-up, imports, exit) goes to
    PROCESS[label]; children run one at a time, so the RUSAGE_CHILDREN delta is this child's."""
    before = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True, cwd=cwd)
    PROCESS.setdefault(label, []).append(_children_cpu() - before)
    return done.stdout


def measure(modules: list[str], runs: int, label: str = "") -> float:
    samples = []
    for run in range(runs + 1):
        # The first run warms the venv's bytecode cache and is not counted.
        out = _run([sys.executable, "-c", TIMER, *modules], ENV, ROOT, label if run else "")
        samples.append(_sample(out))
    PROCESS.pop("", None)
    return statistics.median(samples[1:])  # the first run warms the venv's bytecode cache


PACKAGE_TIMER = """
import time, importlib, sys
sys.path[:0] = sys.argv[1].split(":")
start, cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[2])
print(time.process_time() - cpu, time.perf_counter() - start)
"""


MINIMA: dict[str, float] = {}  # the fastest process of each api measurement


def measure_package(
    module: str, path: list[str], runs: int, *, label: str = "", tracing: bool = False, process_label: str = ""
) -> float:
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    if tracing:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        env["LAMBDA_TASK_ROOT"] = path[0]
    samples = []
    for _ in range(runs):
        command = [sys.executable, "-I", "-S", "-B", "-c", PACKAGE_TIMER, ":".join(path), module]
        samples.append(_sample(_run(command, env, "/", process_label)))
    if label:
        MINIMA[label] = min(samples)
    return statistics.median(samples)


def _venv_api(module: str, runs: int) -> float:
    seconds = measure([module], runs)
    MINIMA["venv"] = min(cpu for cpu, _ in SAMPLES[-runs:])
    return seconds


def _paired(module: str, path: list[str], other: Path, runs: int) -> str:
    """Alternate processes of the package's code folder and of `other` (same layers)."""
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    samples: dict[str, list[float]] = {"package": [], "compare": []}
    load = os.getloadavg()[0]
    for _ in range(runs):
        for label, code in (("package", path[0]), ("compare", str(other))):
            command = [sys.executable, "-I", "-S", "-B", "-c", PACKAGE_TIMER, ":".join([code, *path[1:]]), module]
            samples[label].append(_sample(_run(command, env, "/", "")) * 1000)
    PROCESS.pop("", None)
    a, b = samples["package"], samples["compare"]
    return (
        f"{'  paired, package → ' + other.name:<42}{statistics.median(a):.0f} / {min(a):.0f} → "
        f"{statistics.median(b):.0f} / {min(b):.0f} ms (median / fastest of {runs} pairs, "
        f"load {load:.1f} → {os.getloadavg()[0]:.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--function", action="append", help="only these logical ids (repeatable)")
    parser.add_argument("--build", type=Path, default=ROOT / ".aws-sam" / "build-x86_64")
    parser.add_argument("--runtime", type=Path, default=ROOT / ".aws-sam" / "lambda-runtime")
    parser.add_argument("--code", type=Path, help="the functions' code folder instead of the build's")
    parser.add_argument("--compare", type=Path, help="a second code folder, measured in paired runs")
    args = parser.parse_args()
    template = read_template()
    built = (args.build / "template.yaml").exists()
    specs = worker_specs(template, args.build, args.runtime) if built else {}
    if args.code:
        for spec in specs.values():
            spec["path"] = [str(args.code.resolve()), *spec["path"][1:]]
    source = Path(tempfile.mkdtemp(prefix="tw-bench-source-"))
    if built:
        shutil.copytree(args.build, source / args.build.name, ignore=shutil.ignore_patterns("__pycache__"))
    everything = measure(EVERYTHING, args.runs)
    print(
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"median of {args.runs} processes"
    )
    load_before = os.getloadavg()
    print(
        f"import of every dependency at once (venv): {everything * 1000:7.1f} ms  (3.11: {PY311['everything'] * 1000:.0f} ms)"
    )
    if not built:
        print(f"no build in {args.build}: run `make package-test` first for the package columns")
    print(
        f"{'function':<20}{'handler module':<22}{'venv':>7}{'package':>9}{'source':>8}{'÷ every':>9}"
        f"{'process':>9}{'wall':>7}  target (CPU ms)"
    )
    failures = 0
    for spec in template.functions.values():
        if args.function and spec.logical_id not in args.function:
            continue
        module = spec.handler.rpartition(".")[0]
        api = spec.logical_id == "ApiFunction"
        label = "api" if api else ""
        seconds = measure([module], args.runs) if not api else _venv_api(module, args.runs)
        ratio = seconds / everything
        package = plain = None
        if built:
            path = specs[spec.short_name]["path"]
            package = measure_package(module, path, args.runs, label=label and "package", process_label=spec.logical_id)
            wall = statistics.median(w for _, w in SAMPLES[-args.runs :])
            plain = measure_package(
                module,
                [p.replace(str(args.build), str(source / args.build.name)) for p in path],
                args.runs,
                label=label and "source",
            )
        ok = ratio <= 0.5 and (not api or package is None or package <= 0.4)
        failures += not ok
        target = "≤ 0.50×" + (" and ≤ 400 ms (package)" if api else "")
        figures = (
            f"{package * 1000:9.0f}{plain * 1000:8.0f}"
            if package is not None and plain is not None
            else f"{'-':>9}{'-':>8}"
        )
        extra = (
            f"{statistics.median(PROCESS[spec.logical_id]) * 1000:9.0f}{wall * 1000:7.0f}"
            if package is not None
            else f"{'-':>9}{'-':>7}"
        )
        reference = f"  (3.11 venv: {PY311['ApiFunction'] * 1000:.0f} ms)" if api else ""
        print(
            f"{spec.logical_id:<20}{module:<22}{seconds * 1000:7.0f}{figures}{ratio:8.2f}×{extra}  {target} {'ok' if ok else 'MISSED'}{reference}"
        )
        if args.compare and built:
            print(_paired(module, specs[spec.short_name]["path"], args.compare.resolve(), args.runs))
        if api and built:
            traced = measure_package(module, specs[spec.short_name]["path"], args.runs, label="traced", tracing=True)
            print(f"{'  tracing on':<42}{'':>7}{traced * 1000:9.0f}{'':>8}           (X-Ray SDK imported)")
    if MINIMA:
        fastest = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in MINIMA.items())
        print(f"api, fastest of {args.runs} processes: {fastest}  (3.11 venv: {PY311['ApiFunction'] * 1000:.0f} ms)")
    shutil.rmtree(source, ignore_errors=True)
    stretch = statistics.median(wall / cpu for cpu, wall in SAMPLES if cpu > 0)
    print(f"figures are CPU ms; wall-clock time was {stretch:.1f}× the CPU time at this load")
    load_after = os.getloadavg()
    print(
        "load average (1, 5, 15 min) before the functions: "
        + ", ".join(f"{x:.1f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.1f}" for x in load_after)
    )
    print("all targets met" if not failures else f"{failures} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
