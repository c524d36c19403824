"""Alert fan-out benchmark: a burst of firings through deliver actions to stubbed providers.

    python bench/bench_alerts.py              # 10,000 firings x 2 destinations, providers at 50 ms
    python bench/bench_alerts.py --quick      # 1,000 firings
    python bench/bench_alerts.py --latency 0.2 --workers 64

Needs the test PostgreSQL (127.0.0.1:5432; a database of its own is created and dropped).
Measured in one run: (1) the rules tick's action phase — `ActionRunner.run` over every firing's
deliver action, i.e. what evaluation waits for: outbox rows written and ids queued, no sending;
(2) delivery throughput of the queue's workers against a Telegram-shaped and a Discord-shaped
stub answering after `--latency` seconds; (3) that each (firing, destination) arrived exactly
once, also after the whole burst's actions ran a second time (a redelivered event / retried
Lambda). The synchronous figure is what sending inside the tick would cost at the same latency
and pool size: deliveries x latency / action workers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from tests.conftest import drop_database, new_database  # noqa: E402

from tidewatch.alerts.action import AlertDispatcher  # noqa: E402
from tidewatch.alerts.channels import ChatWebhook, Telegram  # noqa: E402
from tidewatch.alerts.outbox import DeliveryWorker, Outbox, ThreadDeliveryQueue  # noqa: E402
from tidewatch.alerts.repository import PostgresDeliveries  # noqa: E402
from tidewatch.db import Database  # noqa: E402
from tidewatch.rules.actions import ActionRunner, Firing  # noqa: E402
from tidewatch.rules.egress import EgressPolicy  # noqa: E402
from tidewatch.rules.model import DeliverAction  # noqa: E402
from tidewatch_local.alert_providers import ProviderStub  # noqa: E402

TOKEN = "123456:bench-token"  # noqa: S105 (the stub accepts any token)
DISCORD_PATH = "/api/webhooks/123456789012345678/" + "b" * 40


class CollectingQueue:
    """What SQS is to the rules function: ids handed over, sent elsewhere (here: afterwards)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def submit(self, delivery_ids: Sequence[int], *, delay_seconds: float = 0.0) -> None:
        self.ids.extend(delivery_ids)


def seed(db: Database, firings: int, users: int, stub: ProviderStub) -> list[Firing]:
    """`users` users with a Telegram chat and a Discord webhook each; `firings` fired executions."""
    definition = json.dumps(
        {
            "trigger": {"type": "health_factor_below", "threshold": 1.1, "hysteresis": 0.0},
            "actions": [{"type": "deliver", "severity": "critical"}],
        }
    )
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO users (address) SELECT '0x' || lpad(to_hex(g), 40, '0') FROM generate_series(1, %s) g",
            (users,),
        )
        conn.execute(
            "INSERT INTO alert_destinations (user_id, kind, label, target, verified_at) "
            "SELECT id, 'telegram', 'chat', (1000000 + id)::text, now() FROM users",
        )
        conn.execute(
            "INSERT INTO alert_destinations (user_id, kind, label, target, verified_at) "
            "SELECT id, 'discord', 'server', %s || '?u=' || id, now() FROM users",
            (stub.url + DISCORD_PATH,),
        )
        conn.execute(
            "INSERT INTO rules (user_id, name, definition, cadence_seconds) "
            "SELECT 1 + (g %% %s), 'bench ' || g, %s::jsonb, 60 FROM generate_series(1, %s) g",
            (users, definition, firings),
        )
        rows = conn.execute(
            "INSERT INTO rule_executions (rule_id, window_key, fired, observed) "
            "SELECT id, '60:1', true, '{\"trigger_value\": 1.05}'::jsonb FROM rules "
            "RETURNING id, rule_id, (SELECT user_id FROM rules r WHERE r.id = rule_id) AS user_id"
        ).fetchall()
    now = datetime.now(UTC)
    action = DeliverAction(type="deliver", severity="critical")
    return [
        Firing(
            execution_id=int(r["id"]),
            rule_id=int(r["rule_id"]),
            user_id=int(r["user_id"]),
            portfolio_id=None,
            rule_name="bench",
            window_key="60:1",
            fired_at=now,
            observed={"trigger_value": 1.05},
            actions=[action],
        )
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--firings", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=32, help="sending threads of the delivery queue")
    parser.add_argument("--action-workers", type=int, default=8, help="the rules function's action pool")
    args = parser.parse_args()
    firings_n = 1_000 if args.quick else args.firings
    users = max(1, firings_n // 10)
    url = new_database()
    stub = ProviderStub(latency_seconds=args.latency)
    db = Database(url, pool_size=args.workers + args.action_workers + 2)
    try:
        firings = seed(db, firings_n, users, stub)
        loopback = EgressPolicy(allow_loopback=True)
        worker = DeliveryWorker(
            PostgresDeliveries(db), {"telegram": Telegram(TOKEN, api_base=stub.url), "discord": ChatWebhook(loopback)}
        )
        handed_over = CollectingQueue()
        runner = ActionRunner(
            db,
            pusher=None,
            preparer=None,
            webhooks=None,
            alerts=AlertDispatcher(db, Outbox(db, handed_over), dashboard_url="http://localhost:3000"),
            max_workers=args.action_workers,
        )
        # (1) The tick's action phase alone (in AWS the senders run in another function).
        started = time.perf_counter()
        runner.run(firings)
        actions_s = time.perf_counter() - started
        # (2) The alerts consumer drains what the tick queued.
        queue = ThreadDeliveryQueue(worker, workers=args.workers)
        started = time.perf_counter()
        queue.submit(handed_over.ids)
        assert queue.drain(timeout=3600)
        send_s = time.perf_counter() - started
        received = len(stub.received)
        # (3) The same burst again (redelivered events, a retried Lambda), and every id queued again.
        again = CollectingQueue()
        runner_again = ActionRunner(
            db,
            pusher=None,
            preparer=None,
            webhooks=None,
            alerts=AlertDispatcher(db, Outbox(db, again), dashboard_url="http://localhost:3000"),
            max_workers=args.action_workers,
        )
        started = time.perf_counter()
        runner_again.run(firings)
        again_s = time.perf_counter() - started
        queue.submit(handed_over.ids)
        queue.drain(timeout=600)
        queue.close()
        with db.connection() as conn:
            rows = conn.execute("SELECT status, count(*) AS n FROM alert_deliveries GROUP BY status").fetchall()
            retried = conn.execute(
                "SELECT count(*) AS n FROM alert_delivery_attempts WHERE outcome = 'retry'"
            ).fetchone()
        deliveries = sum(int(r["n"]) for r in rows)
        sync_estimate = deliveries * args.latency / args.action_workers
        print(
            f"firings {firings_n:,}  destinations/firing 2  deliveries {deliveries:,}  provider latency "
            f"{args.latency * 1000:.0f} ms  sending threads {args.workers}  action threads {args.action_workers}"
        )
        print(f"tick action phase (outbox + queue)  {actions_s:8.2f} s  {firings_n / actions_s:10,.0f} firings/s")
        print(f"alerts consumer sends the burst     {send_s:8.2f} s  {deliveries / send_s:10,.0f} deliveries/s")
        print(
            f"same burst again (all duplicates)   {again_s:8.2f} s  new rows: {len(again.ids)}  "
            f"new sends: {len(stub.received) - received}"
        )
        print(f"sending inside the tick instead     {sync_estimate:8.2f} s  (deliveries x latency / action threads)")
        print(
            f"statuses {dict((r['status'], int(r['n'])) for r in rows)}  provider received {len(stub.received):,}  "
            f"retried attempts {retried['n'] if retried else 0}"
        )
        print(f"ratio: the tick's action phase is {sync_estimate / actions_s:.1f}x shorter than in-tick sending")
    finally:
        db.close()
        stub.close()
        drop_database(url)


if __name__ == "__main__":
    main()
