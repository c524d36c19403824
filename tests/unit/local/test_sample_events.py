"""events/ holds a sample for every function and every HTTP route (the catalogue people invoke)."""

from __future__ import annotations

import json

from tidewatch_local.template import REPO_ROOT, read_template

EVENTS = REPO_ROOT / "events"
# Routes whose sample would need state a fresh local run does not have, each with the reason.
WITHOUT_SAMPLE = {
    "GET /markets/{market_id}": "needs an ingested market (covered by tests/integration/api/test_markets.py)",
    "GET /markets/{market_id}/history": "needs an ingested market (covered by tests/integration/api/test_markets.py)",
    "POST /transactions/prepare": "needs the devnet and a funded position (tests/integration/wallet)",
    "GET /transactions/{transaction_id}": "needs a prepared transaction (tests/integration/wallet)",
    "POST /transactions/{transaction_id}/broadcast": "needs a signed transaction (tests/integration/wallet)",
    "POST /billing/portal": "needs a Stripe customer (tests/integration/billing)",
    "GET /openapi.json": "served by FastAPI itself (tests/e2e/test_local_gateway.py)",
    "GET /docs": "served by FastAPI itself (tests/e2e/test_local_gateway.py)",
}


def test_every_function_has_sample_events() -> None:
    template = read_template()
    for spec in template.functions.values():
        assert list((EVENTS / spec.short_name).glob("*.json")), f"no sample events for {spec.logical_id}"


def test_every_http_route_has_a_sample_event() -> None:
    template = read_template()
    sampled = {json.loads(p.read_text()).get("routeKey") for p in (EVENTS / "api").glob("*.json")}
    missing = {r.route_key for r in template.http_routes} - sampled - WITHOUT_SAMPLE.keys()
    assert not missing, f"routes without a sample event in events/api: {sorted(missing)}"
    stale = WITHOUT_SAMPLE.keys() & sampled
    assert not stale, f"these now have samples: remove them from WITHOUT_SAMPLE: {sorted(stale)}"
