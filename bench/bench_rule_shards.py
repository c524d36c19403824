"""A sharded rules tick over a million rules on real PostgreSQL (prints figures; no assertions).

    python bench/bench_rule_shards.py                 # 1,000,000 rules, N = 1, 2, 4, 8 concurrent shards
    python bench/bench_rule_shards.py --rules 200000  # smaller

Set-up: 100,000 users with ten rules each (a realistic mix of the five trigger kinds, 30 % with
extra conditions, 20 % recently fired, 20 % disarmed), one portfolio per user with a stored health
factor, 200 markets with rates, five assets with price history. Each shard runs in its own process
(as each shard runs in its own Lambda container) with a cold rule cache: coordinator (count per
bucket, plan, share the market snapshot) → shards (load their rules, evaluate, claim firings,
store notifications). Every N starts from its own copy of the same primed database and moves
the same number of markets, so every run does the same work.

Seeding a million rules (COPY, then the first "burst" tick that fires every matching rule once)
takes minutes, so the seeded database is kept: `tw_bench_shards_seed_<rules>_<fingerprint>`,
where the fingerprint covers the migrations and the seed code. Every N runs on its own copy of
it (`CREATE DATABASE ... TEMPLATE`, a file copy), dropped afterwards; a seed whose fingerprint no
longer matches is dropped and rebuilt. `--reseed` rebuilds it regardless (do so after changing
how a tick runs, since the seed holds the state after the first tick); `--drop-seed` removes it
after the run.

Targets: ≤ 2 s per shard of 100,000 rules; the whole tick ≤ 60 s of Lambda time (the sum of the
shard durations plus the coordinator). On this machine's two cores, more than two concurrent
shards cannot shorten the wall time further; the per-shard figures are what one Lambda container
(one or more vCPUs of its own) would see.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import multiprocessing
import os
import secrets
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # figures, not one log line per shard

import psycopg  # noqa: E402
from tests.unit.rules.factories import random_records  # noqa: E402

from tidewatch.db import Database  # noqa: E402
from tidewatch.migrate import apply_migrations  # noqa: E402
from tidewatch.rules.repository import sync_rule_predicates  # noqa: E402
from tidewatch.rules.sharding import ShardMessage  # noqa: E402

ADMIN_URL = os.environ.get("TIDEWATCH_TEST_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TIDEWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
USERS = 100_000
MARKETS = 200
ASSETS = ["WETH", "USDC", "WBTC", "cbETH", "wstETH"]
SHARD_TARGET_S = 2.0  # load + evaluate + claim of one shard of 100,000 rules
TICK_TARGET_S = 60.0  # Lambda time of the whole tick: every shard plus the coordinator
FULL_SHARD = 0.9  # shards this close to the budget count as full for the per-shard target


def seed(database: Database, n_rules: int) -> None:
    users = min(USERS, max(1, n_rules // 10))
    templates = random_records(20_000, seed=11, n_markets=MARKETS, n_portfolios=users)
    bodies = [(t.definition.model_dump_json(), t.armed) for t in templates]
    portfolio_kinds = {"health_factor_below", "risk_forecast_above"}
    needs_portfolio = [
        t.definition.trigger.type in portfolio_kinds
        or any(c.type in portfolio_kinds for c in (t.definition.conditions.items if t.definition.conditions else []))
        for t in templates
    ]
    with database.connection() as conn:
        conn.execute(
            "INSERT INTO users (address) SELECT '0x' || lpad(to_hex(g), 40, '0') FROM generate_series(1, %s) g",
            (users,),
        )
        conn.execute("INSERT INTO portfolios (user_id, name) SELECT id, 'main' FROM users ORDER BY id")
        conn.execute(
            "INSERT INTO position_snapshots (portfolio_id, taken_at, net_worth_usd, min_health_factor, payload) "
            "SELECT id, %s, 10000, 1.0 + random() * 2.0, '{}'::jsonb FROM portfolios",
            (AT - timedelta(minutes=1),),
        )
        conn.execute(
            "INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals) "
            "SELECT 1, 'aave-v3', 'm' || g, 'A' || g, '0x' || lpad(to_hex(g), 40, '0'), 18 "
            "FROM generate_series(1, %s) g",
            (MARKETS,),
        )
        conn.execute(
            "INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy) "
            "SELECT id, 21000000, %s, random() * 0.1, 0.01 + random() * 0.14 FROM markets",
            (AT - timedelta(minutes=1),),
        )
        for i, asset in enumerate(ASSETS):
            for ago, price in ((0, 1000.0 + i), (3600, 1030.0 + i), (86_400, 960.0 + i)):
                conn.execute(
                    "INSERT INTO asset_prices (chain_id, asset_symbol, observed_at, price_usd) VALUES (1, %s, %s, %s)",
                    (asset, AT - timedelta(seconds=ago + 30), price),
                )
        with conn.cursor().copy("COPY rules (user_id, portfolio_id, name, definition, armed) FROM STDIN") as copy:
            for k in range(n_rules):
                user = 1 + k % users
                body, armed = bodies[k % len(bodies)]
                copy.write_row((user, user if needs_portfolio[k % len(bodies)] else None, f"r{k}", body, armed))
    # COPY writes past the rules repository: flatten every rule's predicates as a rule write (and
    # the migration's backfill) does, in shard order.
    with database.transaction() as conn:
        ids = [int(r["id"]) for r in conn.execute("SELECT id FROM rules ORDER BY shard_bucket, id").fetchall()]
        sync_rule_predicates(conn, ids)
    with database.connection() as conn:
        conn.execute("ANALYZE")


# ---------------------------------------------------------------- shard worker (own process)
_deps: Any = None


class _NoActions:
    """Claims firings but runs no action: brings the rules to their steady state quickly."""

    def run(self, firings: Sequence[Any]) -> dict[int, list[Any]]:
        return {}

    def retry_unfinished(self, *, now: datetime) -> int:
        return 0


def _init_worker(database_url: str, redis_url: str, actions: bool = True) -> None:
    global _deps
    import dataclasses

    from rules.deps import build_deps
    from tidewatch.cache import connect_redis
    from tidewatch.rules.settings import RulesSettings

    _deps = build_deps(
        Database(database_url),
        settings=RulesSettings(),
        broadcaster=None,
        redis=connect_redis(redis_url, timeout=5.0),
    )
    if not actions:
        _deps = dataclasses.replace(_deps, runner=_NoActions())


def _ready(_: int) -> int:
    return os.getpid()


def _run_shard(body: str) -> dict[str, Any]:
    from rules import logic

    started = time.perf_counter()
    report = logic.evaluate_shard(ShardMessage.model_validate_json(body), deps=_deps)
    report["shard_s"] = time.perf_counter() - started
    return report


class ProcessPoolDispatcher:
    """Each shard message to a worker process, as SQS would hand it to a Lambda container."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def dispatch(self, messages: Sequence[ShardMessage]) -> Any:
        from tidewatch.rules.shard_dispatch import DispatchOutcome

        reports = self._pool.map(_run_shard, [m.model_dump_json() for m in messages], chunksize=1)
        return DispatchOutcome(reports=list(reports))


def move_markets(database: Database, at: datetime, count: int = 10) -> None:
    """A new block: `count` of the markets get new rates (what makes rules fire in a steady tick)."""
    with database.connection() as conn:
        conn.execute(
            "INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy) "
            "SELECT id, 21000000 + %s, %s, random() * 0.1, 0.01 + random() * 0.14 FROM markets "
            "ORDER BY random() LIMIT %s",
            (int(at.timestamp()) % 1_000_000, at - timedelta(seconds=5), count),
        )


def tick(database: Database, pool: Any, at: datetime, max_rules: int) -> tuple[Any, list[dict[str, Any]], float]:
    from tidewatch.cache import connect_redis
    from tidewatch.rules.coordinator import coordinate_tick
    from tidewatch.rules.sources import PostgresMarketSource

    dispatcher = ProcessPoolDispatcher(pool)
    captured: dict[str, Any] = {}

    class Capturing:
        def dispatch(self, messages: Sequence[ShardMessage]) -> Any:
            outcome = dispatcher.dispatch(messages)
            captured["reports"] = outcome.reports
            return outcome

    started = time.perf_counter()
    report = coordinate_tick(
        tick_id=f"bench-{secrets.token_hex(4)}",
        trigger="schedule",
        at=at,
        database=database,
        markets=PostgresMarketSource(database),
        redis=connect_redis(REDIS_URL, timeout=5.0),
        dispatcher=Capturing(),
        max_rules_per_shard=max_rules,
    )
    return report, captured["reports"], time.perf_counter() - started


def summary(
    label: str, concurrency: int, max_rules: int, report: Any, shards: list[dict[str, Any]], wall: float
) -> None:
    shard_s = [r["shard_s"] for r in shards]
    work_s_by_shard = [(r["load_ms"] + r["evaluate_ms"] + r["claim_ms"]) / 1000 for r in shards]
    work_s = sorted(work_s_by_shard)
    lambda_s = sum(shard_s) + report.plan_ms / 1000
    load_s = sorted(r["load_ms"] / 1000 for r in shards)
    print(
        f"N={concurrency} {label}: {report.shards} shards, {report.counted_rules:,} rules, "
        f"fired {report.totals['fired']:,}; coordinator {report.plan_ms / 1000:.3f} s; wall {wall:.2f} s; "
        f"Lambda time {lambda_s:.1f} s ({lambda_s / TICK_TARGET_S:.2f} × the {TICK_TARGET_S:g} s target); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    full = [w for w, r in zip(work_s_by_shard, shards, strict=True) if r["rules"] >= FULL_SHARD * max_rules]
    worst = max(full, default=work_s[-1])
    print(
        f"    per shard load+evaluate+claim min {work_s[0]:.2f} / median {work_s[len(work_s) // 2]:.2f} / "
        f"max {work_s[-1]:.2f} s (load alone median {load_s[len(load_s) // 2]:.2f}, max {load_s[-1]:.2f} s); "
        f"whole shard max {max(shard_s):.2f} s; slowest full shard {worst / SHARD_TARGET_S:.2f} × the "
        f"{SHARD_TARGET_S:g} s target"
    )


def run(database: Database, database_url: str, concurrency: int, max_rules: int, at: datetime, *, detail: bool) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(concurrency, initializer=_init_worker, initargs=(database_url, REDIS_URL)) as pool:
        pool.map(_ready, range(concurrency))  # containers started (imports done) before the clock runs
        move_markets(database, at)
        steady = tick(database, pool, at, max_rules)
    summary("steady", concurrency, max_rules, *steady)
    if detail:
        print(
            f"  {'shard':>14} {'rules':>8} {'load s':>7} {'eval s':>7} {'claim s':>8} "
            f"{'actions s':>9} {'total s':>8} {'fired':>6} markets"
        )
        for r in steady[1]:
            print(
                f"  {r['shard']:>14} {r['rules']:>8,} {r['load_ms'] / 1000:>7.3f} "
                f"{r['evaluate_ms'] / 1000:>7.3f} {r['claim_ms'] / 1000:>8.3f} {r['actions_ms'] / 1000:>9.3f} "
                f"{r['shard_s']:>8.3f} {r['fired']:>6,} {r['markets_from']}"
            )


def prime(database: Database, database_url: str, max_rules: int) -> None:
    """The first tick after seeding: every matching rule fires (claims only, no actions) and disarms."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(2, initializer=_init_worker, initargs=(database_url, REDIS_URL, False)) as pool:
        pool.map(_ready, range(2))
        summary("burst, claims only", 2, max_rules, *tick(database, pool, AT, max_rules))


def _admin(statement: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(statement.encode())


def _database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _fingerprint() -> str:
    """Changes when the schema or the seeded data would: the migrations and the seed code."""
    digest = hashlib.sha256()
    for migration in sorted((ROOT / "functions" / "tidewatch" / "migrations").glob("*.sql")):
        digest.update(migration.name.encode() + migration.read_bytes())
    for part in (seed, random_records):  # priming is the tick itself: `--reseed` after changing it
        digest.update(inspect.getsource(part).encode())
    return digest.hexdigest()[:10]


def seeded_database(n_rules: int, shard_size: int, *, reseed: bool) -> str:
    """The name of a database holding `n_rules` seeded and primed rules, built only when missing."""
    prefix = f"tw_bench_shards_seed_{n_rules}_"
    name = prefix + _fingerprint()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        existing = [
            str(r[0]) for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        ]
    for stale in existing:
        if stale != name or reseed:
            _admin(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
    if name in existing and not reseed:
        print(f"reusing seeded database {name}")
        return name
    building = f"{name}_building"
    _admin(f'CREATE DATABASE "{building}"')
    database = Database(_database_url(building), statement_timeout=None)  # seeding outlasts the API's bound
    try:
        apply_migrations(database)
        started = time.perf_counter()
        seed(database, n_rules)
        print(
            f"seeded {n_rules:,} rules of {min(USERS, n_rules // 10):,} users in {time.perf_counter() - started:.1f} s"
        )
        prime(database, _database_url(building), shard_size)
        with database.connection() as conn:
            conn.execute("VACUUM ANALYZE")  # the state every run starts from: visibility map set, statistics fresh
    except BaseException:
        database.close()
        _admin(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        raise
    database.close()
    _admin(f'ALTER DATABASE "{building}" RENAME TO "{name}"')  # only a complete seed is ever reused
    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=1_000_000)
    parser.add_argument("--shard-size", type=int, default=100_000)
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded database even if it exists")
    parser.add_argument("--drop-seed", action="store_true", help="drop the seeded database after the run")
    args = parser.parse_args()
    seed_name = seeded_database(args.rules, args.shard_size, reseed=args.reseed)
    try:
        for n in (int(x) for x in args.concurrency.split(",")):
            name = f"tw_bench_shards_run_{os.getpid()}_{secrets.token_hex(3)}"
            started = time.perf_counter()
            _admin(f'CREATE DATABASE "{name}" TEMPLATE "{seed_name}" STRATEGY FILE_COPY')
            print(f"copied the seeded database in {time.perf_counter() - started:.1f} s")
            url = _database_url(name)
            database = Database(url, statement_timeout=None)
            try:
                run(database, url, n, args.shard_size, AT + timedelta(minutes=1), detail=True)
            finally:
                database.close()
                _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if args.drop_seed:
            _admin(f'DROP DATABASE IF EXISTS "{seed_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
