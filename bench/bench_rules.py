"""Rules engine and broadcaster benchmarks (prints figures; no assertions).

    python bench/bench_rules.py            # 1k / 10k / 100k rules + broadcast to 1k connections
    python bench/bench_rules.py --quick    # 1k / 10k only

Vectorised = build the column arrays from loader rows + evaluate against one snapshot (what a
tick does after the SQL load). Naive = the reference evaluator called once per rule on the same
snapshot, in the same run. Targets: 100k rules in <= 2 s, >= 20x the naive loop; broadcast to 1k
connections in <= 1 s through a local HTTP endpoint shaped like the API Gateway management API.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from tests.unit.rules.factories import NOW, random_records, random_snapshot  # noqa: E402

from tidewatch.rules.engine import evaluate  # noqa: E402
from tidewatch.rules.reference import SnapshotView, evaluate_one  # noqa: E402
from tidewatch.rules.ruleset import RuleSet, record_rows  # noqa: E402


def best_of(repeats: int, fn: object) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def bench_rules(sizes: list[int]) -> None:
    snap = random_snapshot(seed=2, n_markets=200, n_portfolios=20_000)
    view = SnapshotView.of(snap)
    now = NOW.timestamp()
    print("per tick: vectorised = evaluate the cached column set; naive = reference evaluator per rule")
    print(
        f"{'rules':>8} {'vectorised s':>13} {'rules/s':>12} {'naive s':>9} {'rules/s':>11} {'speed-up':>9} "
        f"{'compile s':>10} {'cold tick s':>12} {'fired':>7}"
    )
    for n in sizes:
        records = random_records(n, seed=n, n_markets=200, n_portfolios=20_000)
        rule_rows, predicate_rows = record_rows(records)  # what the SQL loader hands over
        t_compile = best_of(2, lambda: RuleSet.from_rows(rule_rows, predicate_rows))  # noqa: B023
        rules = RuleSet.from_rows(rule_rows, predicate_rows)

        def vectorised(rules: RuleSet = rules) -> int:
            return int(evaluate(rules, snap, now).fire.sum())

        def naive(records: list = records) -> int:
            return sum(evaluate_one(r, view, now).fire for r in records)

        fired = vectorised()
        assert fired == naive()  # same answers, or the comparison means nothing
        t_vec = best_of(5, vectorised)
        t_naive = best_of(1 if n >= 100_000 else 2, naive)
        print(
            f"{n:>8} {t_vec:>13.4f} {n / t_vec:>12,.0f} {t_naive:>9.3f} {n / t_naive:>11,.0f} "
            f"{t_naive / t_vec:>8.1f}x {t_compile:>10.3f} {t_compile + t_vec:>12.3f} {fired:>7}"
        )


class _ManagementApi(BaseHTTPRequestHandler):
    """POST /@connections/{id}: counts deliveries like the API Gateway management API."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real management API
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _ManagementApi.lock:
            _ManagementApi.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _start_management_api() -> tuple[ThreadingHTTPServer, str]:
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ManagementApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def bench_broadcast(n_connections: int = 1000) -> None:
    from tidewatch.live.broadcaster import Broadcaster, Recipient
    from tidewatch.live.http_push import HttpConnectionPoster

    server, endpoint = _start_management_api()
    recipients = [Recipient(f"conn-{i}", 1 + i % 50, endpoint) for i in range(n_connections)]
    poster = HttpConnectionPoster()
    broadcaster = Broadcaster(store=None, post_to_connection=poster, max_workers=32)
    message = {"type": "market", "topic": "markets", "data": {"market_id": 1, "supply_apy": 0.0412}}
    broadcaster.deliver(recipients[:50], message)  # warm the pool and the keep-alive connections
    _ManagementApi.received = 0
    started = time.perf_counter()
    report = broadcaster.deliver(recipients, message)
    elapsed = time.perf_counter() - started
    server.shutdown()
    print(
        f"broadcast to {n_connections} connections over HTTP: {elapsed:.3f} s "
        f"({n_connections / elapsed:,.0f} posts/s), delivered={report.delivered} received={_ManagementApi.received}"
    )


def bench_broadcast_from_postgres(database: object, n_connections: int = 1000) -> None:
    """publish_market end to end: subscriber lookup in websocket_connections + parallel posts."""
    from tidewatch.db import Database
    from tidewatch.live.broadcaster import Broadcaster
    from tidewatch.live.http_push import HttpConnectionPoster
    from tidewatch.live.repository import ConnectionStore

    assert isinstance(database, Database)
    server, endpoint = _start_management_api()
    with database.connection() as conn:
        conn.execute(
            "INSERT INTO websocket_connections (connection_id, user_id, endpoint, topics) "
            "SELECT 'conn-' || g, 1, %s, ARRAY['markets'] FROM generate_series(1, %s) AS g",
            (endpoint, n_connections),
        )
    broadcaster = Broadcaster(ConnectionStore(database), HttpConnectionPoster(), max_workers=32)
    broadcaster.publish_market(1, {"supply_apy": 0.04})  # warm
    _ManagementApi.received = 0
    started = time.perf_counter()
    report = broadcaster.publish_market(1, {"supply_apy": 0.0412})
    elapsed = time.perf_counter() - started
    server.shutdown()
    print(
        f"publish_market to {n_connections} subscribed connections (Postgres lookup + HTTP posts): "
        f"{elapsed:.3f} s, delivered={report.delivered}"
    )


def bench_postgres_load(n: int, admin_url: str) -> None:
    """The whole tick's rule side on real Postgres: SQL load of n enabled rules + evaluation."""
    import os
    import secrets

    import psycopg

    from tidewatch.db import Database
    from tidewatch.migrate import apply_migrations
    from tidewatch.rules.repository import sync_rule_predicates
    from tidewatch.rules.store import RuleCache

    name = f"tw_bench_rules_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    database = Database(url)
    try:
        apply_migrations(database)
        records = random_records(n, seed=n, n_markets=200, n_portfolios=2000)
        with database.connection() as conn:
            conn.execute("INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa')")
            conn.execute("INSERT INTO portfolios (user_id, name) SELECT 1, 'p' || g FROM generate_series(1, 2000) AS g")
            with conn.cursor().copy(
                "COPY rules (user_id, portfolio_id, name, definition, armed, last_fired_at) FROM STDIN"
            ) as copy:
                for r in records:
                    copy.write_row(
                        (1, r.portfolio_id, f"r{r.rule_id}", r.definition.model_dump_json(), r.armed, r.last_fired_at)
                    )
        # COPY writes past the rules repository: flatten the predicates as a rule write does.
        with database.transaction() as conn:
            ids = [int(r["id"]) for r in conn.execute("SELECT id FROM rules ORDER BY shard_bucket, id").fetchall()]
            sync_rule_predicates(conn, ids)
        with database.connection() as conn:
            conn.execute("ANALYZE rules")
            conn.execute("ANALYZE rule_predicates")
        snap = random_snapshot(seed=2, n_markets=200, n_portfolios=2000)
        cache = RuleCache()
        for label in ("cold container", "warm container", "warm, 1% of rules edited"):
            if label.startswith("warm, 1%"):
                with database.transaction() as conn:  # edited as the rules repository writes them
                    edited = conn.execute(
                        "UPDATE rules SET definition = jsonb_set(definition, '{trigger,hysteresis}', '0.001'), "
                        "updated_at = now() WHERE id % 100 = 0 RETURNING id"
                    ).fetchall()
                    sync_rule_predicates(conn, [int(r["id"]) for r in edited])
            started = time.perf_counter()
            rules = cache.load(database)
            loaded = time.perf_counter()
            fired = int(evaluate(rules, snap, NOW.timestamp()).fire.sum())
            done = time.perf_counter()
            print(
                f"postgres tick, {n:,} enabled rules, {label:>24}: load {loaded - started:.3f} s + "
                f"evaluate {done - loaded:.4f} s = {done - started:.3f} s ({n / (done - started):,.0f} rules/s), "
                f"fired {fired}"
            )
        bench_broadcast_from_postgres(database)
    finally:
        database.close()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-broadcast", action="store_true")
    parser.add_argument(
        "--admin-database-url",
        default=None,
        help="Postgres URL allowed to CREATE DATABASE; adds the SQL load of 100k rules (temporary database).",
    )
    args = parser.parse_args()
    bench_rules([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    if args.admin_database_url:
        bench_postgres_load(10_000 if args.quick else 100_000, args.admin_database_url)
    if not args.skip_broadcast:
        bench_broadcast()


if __name__ == "__main__":
    main()
