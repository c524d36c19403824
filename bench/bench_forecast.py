"""Forecast inference speed: single-prediction latency and batched predictions per second.

Prints figures (no assertions). Run from the repository root:

    /work/main/.venv/bin/python bench/bench_forecast.py

Measures, for the shipped artifacts:
* risk model core (`RiskModel.probability` on arrays) and the full path from validated
  `RiskRequest`s (`score_positions`), and the same from raw JSON-like dicts (pydantic parsing);
* the risk handler's `score_risk_batch` path: JSON text in → parse (columnar fast path) →
  score → JSON text out, against the 100,000 positions/s target, beside the typed path, and its
  parts per 20k positions (`json.loads`, `score_batch_event`, `json.dumps`; CPU time). "Including
  JSON" covers decoding the event text and encoding the result dict, the two steps the Lambda
  runtime performs around the handler;
* APY model core (`ApyHead.predict` on a feature matrix) and the full path from histories: one
  market from a 169-point history for both horizons, from the full history a head reads given
  in the request (`history_hours`: the recent-residual window of the 24 h heads, the adaptive
  conformal replay of the 7-day heads), and, against the ≤ 1 ms target, a stored market as the
  API serves it (its `APY_HISTORY_HOURS` read as columns): the same hour again, the next hour
  (the read window moved on by an hour; one new replay origin is walked) and cold (no walked
  rows remembered). The full histories in the request are measured as `history` points and as
  `history_columns` (the same readings as arrays), each also with the request's validation from
  its JSON form (`validate + forecast_apy`: what the handler does after `json.loads`), and
  the columns cold (no walked rows remembered).

Every figure is printed beside the 1-minute load average when it was taken.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from tests.unit.forecast.positions import eth_position  # noqa: E402

from risk.store import shipped  # noqa: E402
from tidewatch.forecast.apy_model import (  # noqa: E402
    APY_HISTORY_HOURS,
    ApyModel,
    RateColumns,
    apy_feature_matrix,
    forecast_apy,
    history_hours,
)
from tidewatch.forecast.artifact import apy_model_from, risk_model_from  # noqa: E402
from tidewatch.forecast.payloads import ApyForecastRequest, RateObservation, RiskBatchRequest  # noqa: E402
from tidewatch.forecast.risk_model import score_positions  # noqa: E402

TARGET_SINGLE_MS = 1.0
TARGET_BATCH_PER_S = 50_000
TARGET_HANDLER_BATCH_PER_S = 100_000


def per_call_ms(fn: Callable[[], object], repeat: int = 2000) -> float:
    fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat // 5):
            fn()
        samples.append((time.perf_counter() - start) / (repeat // 5) * 1000)
    return statistics.median(samples)


def throughput(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    fn()
    best = min(_timed(fn) for _ in range(rounds))
    return n / best


def _timed(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def cpu_throughput(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    """Items per second of this process's CPU time: on a machine shared with other work, wall
    time also counts the time other processes held the core."""
    fn()
    return n / min(_timed(fn, time.process_time) for _ in range(rounds))


def load() -> str:
    return f"load {os.getloadavg()[0]:4.1f}"


def line(name: str, single_ms: float | None, per_s: float | None) -> None:
    s = f"{single_ms:8.4f} ms ({TARGET_SINGLE_MS / single_ms:6.2f}x under 1 ms)" if single_ms else " " * 34
    b = f"{per_s:12,.0f}/s ({per_s / TARGET_BATCH_PER_S:5.1f}x the 50k/s target)" if per_s else " " * 40
    print(f"{name:<50} {s}   {b}  [{load()}]")


def stored_forecasts(apy: ApyModel) -> None:
    """A stored market forecast as the API serves it: its rows since `APY_HISTORY_HOURS` read as
    columns (`repository.stored_rate_history`), the read window moving with the clock."""
    rng = np.random.default_rng(3)
    n = 4_000
    y = np.abs(0.03 + 0.005 * np.sin(np.arange(n) / 50) + rng.normal(0.0, 0.0005, n))
    u = np.clip(0.8 + 0.05 * np.sin(np.arange(n) / 30), 0.0, 1.0)
    v = 1e8 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    seconds = 1.7e9 + 3600.0 * np.arange(n)
    span = APY_HISTORY_HOURS + 1

    def read(end: int) -> dict[int, RateColumns]:
        w = slice(end - span, end)
        return {1: RateColumns(seconds[w], y[w], y[w] * 1.4, u[w], v[w])}

    for horizon in (24, 168):
        stored_head(apy, horizon, [read(end) for end in range(n - 1_500, n)], span)


def stored_head(apy: ApyModel, horizon: int, hours: list[dict[int, RateColumns]], span: int) -> None:
    keys = {1: "aave-v3:1:USDC"}
    head = apy.head("supply", horizon)
    req = [ApyForecastRequest(market_id=1, side="supply", horizon_hours=horizon)]
    now = hours[-1]
    head.forget_changes()
    warm = per_call_ms(partial(forecast_apy, req, apy, now, keys), 300)
    report(f"apy stored ({span} h read, {horizon} h): same hour again", warm)
    # Hour after hour: each forecast one hour after the one before, its window moved by one
    # hour; origins every 3 h recur from three hours earlier, so one new origin is walked.
    for history in hours[:3]:
        forecast_apy(req, apy, history, keys)
    later = iter(hours[3:])
    hourly = per_call_ms(lambda: forecast_apy(req, apy, next(later), keys), 1_000)
    report(f"apy stored ({span} h read, {horizon} h): next hour", hourly)

    def cold() -> object:
        head.forget_changes()
        return forecast_apy(req, apy, now, keys)

    report(f"apy stored ({span} h read, {horizon} h): cold (nothing remembered)", per_call_ms(cold, 300))


def report(name: str, ms: float) -> None:
    """A single served forecast against the ≤ 1 ms target."""
    verdict = "met" if ms <= TARGET_SINGLE_MS else "NOT met"
    print(f"{name:<62} {ms:7.3f} ms  {ms / TARGET_SINGLE_MS:5.2f}x the 1 ms target ({verdict})  [{load()}]")


def main() -> None:
    risk = risk_model_from(shipped("risk"))
    apy = apy_model_from(shipped("apy"))
    rng = np.random.default_rng(1)
    n = 100_000
    hf = rng.uniform(1.0, 3.0, n)
    sigma = rng.uniform(0.2, 1.2, n)
    hours = rng.choice([24.0, 168.0], n)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; risk {risk.version}, apy {apy.version}\n")

    line("risk core: probability(arrays) ×1", per_call_ms(lambda: risk.probability(hf[:1], sigma[:1], hours[:1])), None)
    line("risk core: probability(arrays) ×100k", None, throughput(lambda: risk.probability(hf, sigma, hours), n))

    one = [eth_position(1.3, horizon_hours=168)]
    line("risk: score_positions(1 RiskRequest)", per_call_ms(lambda: score_positions(one, risk), 1000), None)
    many = [eth_position(float(h), horizon_hours=int(t)) for h, t in zip(hf[:20_000], hours[:20_000], strict=True)]
    line("risk: score_positions(20k RiskRequests)", None, throughput(lambda: score_positions(many, risk), len(many), 3))
    raw = {"action": "score_risk_batch", "positions": [p.model_dump(mode="json") for p in many]}
    line(
        "risk: parse 20k JSON positions + score",
        None,
        throughput(lambda: score_positions(RiskBatchRequest.model_validate(raw).positions, risk), len(many), 3),
    )

    import json

    from risk.deps import Models, RiskDeps
    from risk.handler import RiskEvent, dispatch, handle
    from tidewatch.entrypoint import run_typed

    loaded = Models(risk=risk, apy=apy)
    line(
        "risk: typed handler path, 20k (parse+score+dump)",
        None,
        throughput(lambda: run_typed(raw, RiskEvent, lambda e: dispatch(e, RiskDeps(loaded, None))), len(many), 3),  # type: ignore[arg-type]
    )
    text = json.dumps(raw)

    def round_trip() -> object:
        return json.dumps(handle(json.loads(text), RiskDeps(loaded, None)))

    fast = throughput(round_trip, len(many), 5)
    line("risk: handler batch, 20k JSON in → JSON out", None, fast)
    print(f"{'':<46} {'':33}   {fast / TARGET_HANDLER_BATCH_PER_S:5.2f}x the 100k/s handler target (wall)")
    cpu = cpu_throughput(round_trip, len(many), 5)
    line("risk: handler batch, same, per CPU second", None, cpu)
    print(f"{'':<46} {'':33}   {cpu / TARGET_HANDLER_BATCH_PER_S:5.2f}x the 100k/s handler target (CPU time)")
    from risk.batch import score_batch_event

    event = json.loads(text)
    result = score_batch_event(event, risk)
    parts = {
        "json.loads": lambda: json.loads(text),
        "score_batch_event": lambda: score_batch_event(event, risk),
        "json.dumps": lambda: json.dumps(result),
    }
    split = ", ".join(f"{k} {len(many) / cpu_throughput(f, len(many), 5) * 1000:.1f} ms" for k, f in parts.items())
    print(f"{'  parts per 20k (CPU):':<46} {split}  [{load()}]")

    head = apy.head("supply", 24)
    y = 0.03 + 0.005 * np.sin(np.arange(20_000) / 50)
    feats = apy_feature_matrix(y, np.full(y.size, 0.8))
    line("apy core: head.predict(features) ×1", per_call_ms(lambda: head.predict(feats[:1])), None)
    line("apy core: head.predict(features) ×20k", None, throughput(lambda: head.predict(feats), len(feats)))
    start = datetime(2024, 5, 1, tzinfo=UTC)
    history = [
        RateObservation(observed_at=start + timedelta(hours=i), supply_apy=float(y[i]), utilization=0.8)
        for i in range(169)
    ]
    for horizon in (24, 168):
        req = [ApyForecastRequest(side="supply", horizon_hours=horizon, history=history)]
        line(
            f"apy: forecast_apy(1 market, 169 h history, {horizon} h)",
            per_call_ms(partial(forecast_apy, req, apy), 300),
            None,
        )
    for horizon in (24, 168):
        span = history_hours(horizon)
        y_long = 0.03 + 0.005 * np.sin(np.arange(span) / 50)
        long_history = [
            RateObservation(observed_at=start + timedelta(hours=i), supply_apy=float(y_long[i]), utilization=0.8)
            for i in range(span)
        ]
        req = [ApyForecastRequest(side="supply", horizon_hours=horizon, history=long_history)]
        line(
            f"apy: forecast_apy(1 market, {span} h history in the request, {horizon} h)",
            per_call_ms(partial(forecast_apy, req, apy), 300),
            None,
        )
        as_json = {
            "side": "supply",
            "horizon_hours": horizon,
            "history": [p.model_dump(mode="json", exclude_none=True) for p in long_history],
        }
        line(
            f"apy: validate + forecast_apy({span} h as points, {horizon} h)",
            per_call_ms(lambda as_json=as_json: forecast_apy([ApyForecastRequest.model_validate(as_json)], apy), 100),
            None,
        )
        # The same readings as `history_columns` (JSON numbers, as a caller sends them).
        sent = {
            "side": "supply",
            "horizon_hours": horizon,
            "history_columns": {
                "observed_at": [p.observed_at.timestamp() for p in long_history],
                "supply_apy": [p.supply_apy for p in long_history],
                "utilization": [p.utilization for p in long_history],
            },
        }
        req = [ApyForecastRequest.model_validate(sent)]
        line(
            f"apy: forecast_apy(1 market, {span} h history as columns in the request, {horizon} h)",
            per_call_ms(partial(forecast_apy, req, apy), 300),
            None,
        )
        line(
            f"apy: validate + forecast_apy({span} h as columns, {horizon} h)",
            per_call_ms(lambda sent=sent: forecast_apy([ApyForecastRequest.model_validate(sent)], apy), 300),
            None,
        )

        def cold(req: list[ApyForecastRequest] = req, horizon: int = horizon) -> object:
            apy.head("supply", horizon).forget_changes()
            return forecast_apy(req, apy)

        line(f"apy: forecast_apy({span} h as columns, {horizon} h), cold", per_call_ms(cold, 300), None)
    stored_forecasts(apy)
    req = [ApyForecastRequest(side="supply", horizon_hours=24, history=history)]
    reqs = req * 2_000
    line("apy: forecast_apy(2k markets, 169 h each)", None, throughput(lambda: forecast_apy(reqs, apy), len(reqs), 3))


if __name__ == "__main__":
    main()
