"""The serving path must stay lean: no scikit-learn or scipy at import or first inference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
sys.path[:0] = ["functions", "."]
import risk.handler
from risk.deps import load_models
from tests.unit.forecast.positions import eth_position
from tidewatch.forecast.risk_model import score_positions
models = load_models(None)
score_positions([eth_position(1.2)], models.risk)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "boto3", "pandas", "web3"})
print(json.dumps(heavy))
"""


def test_handler_and_inference_do_not_import_heavy_packages() -> None:
    # Given a fresh interpreter
    # When the risk handler is imported and a position scored with the shipped model
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    # Then neither scikit-learn, scipy, boto3 nor web3 was imported
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
