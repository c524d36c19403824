"""Stripe webhook handling through the full Lambda path, and what billing adds to a cold start.

Prints:
* p50/p99 of a signed `customer.subscription.updated` through Mangum → FastAPI → signature check →
  the re-read of the customer's subscriptions (the stripe library against an in-process HTTP
  stand-in, so Stripe's own latency, ~100-300 ms in production, is not in the figure) → one
  Postgres transaction (event id + subscriptions + facts + plan), for new events and redeliveries;
* the import cost of `stripe` (paid lazily on the first billing call, not at cold start) beside the
  billing router's own import cost.

Needs the test PostgreSQL/Redis (same defaults as tests/conftest.py).

    python bench/bench_billing_webhook.py [--events 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "functions"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("LOG_LEVEL", "WARNING")

ADMIN_URL = os.environ.get("TIDEWATCH_TEST_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TIDEWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

IMPORT_TIMER = """
import time, importlib, sys
start = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(time.perf_counter() - start)
"""


def import_cost(modules: list[str], runs: int = 5) -> float:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'local'}"}
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_TIMER, *modules], capture_output=True, text=True, env=env, check=True
        )
        samples.append(float(out.stdout))
    return statistics.median(samples)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()

    import psycopg
    import responses
    from mangum import Mangum
    from tests.fakes.stripe import StripeStub
    from tests.integration.api.lambda_events import FakeLambdaContext
    from tests.integration.billing.conftest import ManualClock, api_deps, billing_settings, build_app, create_user

    from api.deps import ApiDeps
    from api.deps.billing import billing_deps_from
    from tidewatch.cache import connect_redis
    from tidewatch.db import Database
    from tidewatch.migrate import apply_migrations
    from tidewatch_local.stripe_events import api_gateway_event, event, sign, subscription

    name = f"tw_bench_billing_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(ADMIN_URL.rpartition("/")[0] + "/" + name, pool_size=2)
    stripe_api = responses.RequestsMock(assert_all_requests_are_fired=False)
    stripe_api.start()
    stub = StripeStub(stripe_api)
    try:
        apply_migrations(db)
        user_id = create_user(db)
        clock = ManualClock(time.time())
        deps: ApiDeps = api_deps(db, connect_redis(REDIS_URL, timeout=2.0), clock)
        handler = Mangum(build_app(deps, billing_deps_from(billing_settings())), lifespan="off")
        context = FakeLambdaContext()

        now = int(clock())
        stub.put(
            subscription(
                sub_id="sub_bench", customer="cus_bench", status="active", created=now - 10_000, user_id=user_id
            )
        )
        deliveries = []
        for i in range(args.events):
            status = "active" if i % 2 == 0 else "past_due"
            sub = subscription(
                sub_id="sub_bench", customer="cus_bench", status=status, created=now - 10_000, user_id=user_id
            )
            body = json.dumps(event("customer.subscription.updated", sub, created=now - 5_000 + i))
            deliveries.append(api_gateway_event(body, sign(body, timestamp=now)))

        def run(batch: list[dict[str, object]]) -> list[float]:
            timings = []
            for delivery in batch:
                start = time.perf_counter()
                response = handler(delivery, context)  # type: ignore[arg-type]
                timings.append((time.perf_counter() - start) * 1000)
                assert response["statusCode"] == 200, response
            return timings

        run(deliveries[:5])  # warm: first stripe import, pool connections
        fresh = run(deliveries[5:])
        again = run(deliveries[5:])
        print(
            f"webhook, new event (Lambda path, {len(fresh)} events):  p50 {percentile(fresh, 0.5):6.2f} ms   p99 {percentile(fresh, 0.99):6.2f} ms"
        )
        print(
            f"webhook, redelivery (duplicate):              p50 {percentile(again, 0.5):6.2f} ms   p99 {percentile(again, 0.99):6.2f} ms"
        )
        print(f"throughput, one process: {1000 / statistics.mean(fresh):7.1f} new events/s")
    finally:
        stripe_api.stop()
        db.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    router = import_cost(["api.routers.billing"])
    stripe_cost = import_cost(["stripe"])
    both = import_cost(["api.routers.billing", "stripe"])
    print(f"import api.routers.billing (no stripe):      {router * 1000:6.0f} ms")
    print(f"import stripe (lazily, first billing call):  {stripe_cost * 1000:6.0f} ms")
    print(
        f"router + stripe together:                    {both * 1000:6.0f} ms  (stripe would add {100 * (both - router) / router:.0f} % at cold start)"
    )


if __name__ == "__main__":
    main()
