"""The api function must not pay for `import stripe` at cold start (about 0.2 s)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_importing_the_billing_router_and_domain_does_not_import_stripe() -> None:
    # Given a fresh interpreter
    code = (
        "import sys; import api.routers.billing, api.deps.billing, tidewatch.billing.plans, "
        "tidewatch.billing.webhooks, tidewatch.billing.stripe_gateway, tidewatch.billing.account; "
        "print('stripe' in sys.modules)"
    )
    # When the billing router and the billing domain are imported
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    # Then stripe was not loaded
    assert out.stdout.strip() == "False"


def test_the_grace_sweep_entry_point_needs_neither_fastapi_nor_stripe() -> None:
    code = "import sys; import api.billing_grace; print('fastapi' in sys.modules, 'stripe' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PYTHONPATH": f"{ROOT / 'functions'}",
            "PATH": "/usr/bin:/bin",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False False"
