"""Builders for rules and snapshots used across the rules tests and the benchmark."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from tidewatch.rules.model import RuleDefinition
from tidewatch.rules.ruleset import RuleRecord
from tidewatch.rules.snapshot import MarketState, TickSnapshot

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def record(
    trigger: dict[str, Any],
    *,
    rule_id: int = 1,
    user_id: int = 1,
    portfolio_id: int | None = 7,
    conditions: dict[str, Any] | None = None,
    actions: list[dict[str, Any]] | None = None,
    armed: bool = True,
    last_fired_at: datetime | None = None,
    cooldown_seconds: int = 3600,
    cadence_seconds: int = 60,
) -> RuleRecord:
    definition = RuleDefinition.model_validate(
        {"trigger": trigger, "conditions": conditions, "actions": actions or [{"type": "notify"}]}
    )
    return RuleRecord(
        rule_id=rule_id,
        user_id=user_id,
        portfolio_id=portfolio_id,
        definition=definition,
        cadence_seconds=cadence_seconds,
        cooldown_seconds=cooldown_seconds,
        armed=armed,
        last_fired_at=last_fired_at,
    )


def snapshot(
    *,
    supply: dict[int, float] | None = None,
    borrow: dict[int, float] | None = None,
    hf: dict[int, float] | None = None,
    risk: dict[tuple[int, int], float] | None = None,
    prices: dict[tuple[int, str, int], float] | None = None,
) -> TickSnapshot:
    supply = supply or {}
    borrow = borrow or {}
    ids = sorted(set(supply) | set(borrow))
    markets = [MarketState(i, supply.get(i), borrow.get(i)) for i in ids]
    return TickSnapshot.build(NOW, markets, hf or {}, risk or {}, prices or {})


ASSETS = ["WETH", "USDC", "WBTC", "cbETH", "wstETH"]


def random_trigger(rng: random.Random, n_markets: int, *, with_risk: bool = True) -> dict[str, Any]:
    kinds = ["market_apy", "apy_spread", "health_factor_below", "price_change"] + (
        ["risk_forecast_above"] if with_risk else []
    )
    kind = rng.choice(kinds)
    if kind == "market_apy":
        return {
            "type": kind,
            "market_id": rng.randint(1, n_markets),
            "side": rng.choice(["supply", "borrow"]),
            "op": rng.choice(["above", "below"]),
            "threshold": round(rng.uniform(0, 0.1), 3),
            "hysteresis": rng.choice([0.0, 0.005]),
        }
    if kind == "apy_spread":
        a = rng.randint(1, n_markets)
        b = a % n_markets + 1
        return {
            "type": kind,
            "market_id": a,
            "other_market_id": b,
            "op": rng.choice(["above", "below"]),
            "threshold": round(rng.uniform(-0.03, 0.03), 3),
        }
    if kind == "health_factor_below":
        return {"type": kind, "threshold": round(rng.uniform(1.0, 2.0), 2), "hysteresis": 0.1}
    if kind == "risk_forecast_above":
        return {"type": kind, "horizon_hours": rng.choice([24, 168]), "threshold": round(rng.uniform(0.01, 0.5), 2)}
    return {
        "type": "price_change",
        "asset": rng.choice(ASSETS),
        "window_seconds": rng.choice([3600, 86_400]),
        "op": rng.choice(["rises", "falls", "moves"]),
        "threshold": round(rng.uniform(0.01, 0.1), 3),
    }


def random_records(
    n: int, *, seed: int = 1, n_markets: int = 50, n_portfolios: int = 2000, now: datetime = NOW
) -> list[RuleRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        conditions = None
        if rng.random() < 0.3:
            conditions = {
                "mode": rng.choice(["all", "any"]),
                "items": [random_trigger(rng, n_markets) for _ in range(rng.randint(1, 3))],
            }
        last = None
        if rng.random() < 0.2:
            last = datetime.fromtimestamp(now.timestamp() - rng.randint(0, 7200), UTC)
        out.append(
            record(
                random_trigger(rng, n_markets),
                rule_id=i,
                user_id=1 + i % 997,
                portfolio_id=1 + i % n_portfolios,
                conditions=conditions,
                armed=rng.random() < 0.8,
                last_fired_at=last,
            )
        )
    return out


def random_snapshot(*, seed: int = 2, n_markets: int = 50, n_portfolios: int = 2000) -> TickSnapshot:
    rng = random.Random(seed)
    supply = {i: rng.uniform(0, 0.1) for i in range(1, n_markets + 1) if rng.random() < 0.95}
    borrow = {i: rng.uniform(0.01, 0.15) for i in range(1, n_markets + 1)}
    hf = {p: rng.uniform(0.9, 3.0) for p in range(1, n_portfolios + 1) if rng.random() < 0.9}
    risk = {(p, h): rng.random() * 0.6 for p in range(1, n_portfolios + 1) for h in (24, 168)}
    prices = {(1, a, w): rng.uniform(-0.12, 0.12) for a in ASSETS for w in (3600, 86_400)}
    return snapshot(supply=supply, borrow=borrow, hf=hf, risk=risk, prices=prices)
