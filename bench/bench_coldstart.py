"""Cold-start import time of each function's handler module, beside importing every dependency.

Each figure is the median of several fresh interpreter processes (what a Lambda cold start pays
for imports). Targets (issue #2): each function at most half of "everything"; the api ≤ 0.6 s.

    python bench/bench_coldstart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "functions")]

from tidewatch_local.template import read_template  # noqa: E402

EVERYTHING = [
    "pydantic", "pydantic_settings", "aws_lambda_powertools", "psycopg", "psycopg_pool", "redis",
    "fastapi", "mangum", "jwt", "eth_account", "stripe", "web3", "numpy", "scipy", "sklearn", "boto3",
]  # fmt: skip

TIMER = """
import time, importlib, sys
start = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(time.perf_counter() - start)
"""

ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT / "functions"),
    "PYTHONDONTWRITEBYTECODE": "0",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def measure(modules: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", TIMER, *modules], capture_output=True, text=True, env=ENV, check=True, cwd=ROOT
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples[1:])  # the first run warms the bytecode cache, as a deployed package is


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    everything = measure(EVERYTHING, args.runs)
    print(f"import of every dependency at once: {everything * 1000:7.1f} ms  (median of {args.runs} processes)")
    print(f"{'function':<20}{'handler module':<28}{'import ms':>10}{'÷ everything':>14}  target")
    failures = 0
    for spec in read_template().functions.values():
        module = spec.handler.rpartition(".")[0]
        seconds = measure([module], args.runs)
        ratio = seconds / everything
        limit = 0.6 if spec.logical_id == "ApiFunction" else None
        ok = ratio <= 0.5 and (limit is None or seconds <= limit)
        failures += not ok
        target = "≤ 0.50×" + (" and ≤ 600 ms" if limit else "")
        print(
            f"{spec.logical_id:<20}{module:<28}{seconds * 1000:10.1f}{ratio:13.2f}×  {target} {'ok' if ok else 'MISSED'}"
        )
    print("all targets met" if not failures else f"{failures} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
