"""`tidewatch backfill`: read market history from archive nodes into the database.

    tidewatch backfill                       the last 30 days, hourly, every configured chain
    tidewatch backfill --days 365            up to a year
    tidewatch backfill --start 2026-10-01T00:00Z --end 2026-11-01T00:00Z --chain 1

Uses the configuration of the local run (TIDEWATCH_RPC_URLS, TIDEWATCH_REGISTRY, the database),
the same adapters and Multicall3 plans as ingest, and stores hours that no run stored before:
an interrupted backfill resumes where it stopped. TIDEWATCH_BACKFILL_REQUESTS_PER_SECOND caps
the request rate per chain; HTTP 429s slow it down.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO


class ProgressBar:
    """One line per chain on a terminal (redrawn in place), a line per 10 % elsewhere."""

    def __init__(self, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self.began = time.monotonic()
        self._last: dict[int, int] = {}

    def __call__(self, chain_id: int, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        if not self.tty:
            tenth = int(fraction * 10)
            if self._last.get(chain_id) == tenth and done != total:
                return
            self._last[chain_id] = tenth
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"chain {chain_id} [{bar}] {done}/{total} h  {time.monotonic() - self.began:5.1f} s"
        end = "\n" if (done == total or not self.tty) else ""
        self.out.write(("\r" if self.tty else "") + line + end)
        self.out.flush()


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace, *, out: TextIO = sys.stdout, progress: Any = None) -> int:
    from tidewatch.backfill.service import BackfillRequest, backfill_clients, run_backfill
    from tidewatch.backfill.settings import BackfillSettings
    from tidewatch.chain.settings import ChainReadSettings
    from tidewatch.db import Database
    from tidewatch.errors import DomainError
    from tidewatch.migrate import apply_migrations
    from tidewatch.protocols.registry import load_registry
    from tidewatch.settings import ChainSettings
    from tidewatch_local.cli import CliError
    from tidewatch_local.stack import apply_environment, resolve_stack

    stack = resolve_stack()
    try:
        apply_environment(stack)
        chain = ChainSettings()
        if not chain.rpc_urls and not chain.rpc_urls_secret_arn:
            raise CliError("no RPC configured: set TIDEWATCH_RPC_URLS (archive nodes), or run `tidewatch dev`")
        overrides: dict[str, Any] = {}
        if args.rps is not None:
            overrides["requests_per_second"] = args.rps
        settings = BackfillSettings(**overrides)
        read = ChainReadSettings()
        database = Database(stack.database_url)
        try:
            apply_migrations(database)
            request = BackfillRequest(
                action="backfill",
                mode="window",
                days=args.days if args.start is None else None,
                start=args.start,
                end=args.end,
                chain_ids=args.chain or None,
            )
            report = run_backfill(
                request,
                database=database,
                registry=load_registry(chain.registry),
                clients=backfill_clients(chain, read, settings),
                settings=settings,
                now=datetime.now(tz=UTC),
                chunk_size=read.multicall_chunk_size,
                on_progress=progress if progress is not None else (None if args.quiet else ProgressBar()),
            )
        except DomainError as exc:
            raise CliError(exc.detail) from None
        finally:
            database.close()
    finally:
        stack.close()
    print(f"window {report.window_start.isoformat()} .. {report.window_end.isoformat()} (hourly)", file=out)
    for c in report.chains:
        status = "complete" if c["complete"] else f"incomplete: {c['error']}"
        print(
            f"chain {c['chain_id']}: {c['filled']} h filled, {c['already']} h already stored, "
            f"{c['unfillable']} h unfillable, {c['rows_written']} rows, {c['round_trips']} HTTP requests, "
            f"{c['seconds']} s — {status}",
            file=out,
        )
    return 0 if report.complete else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("backfill", help="read market history at past blocks (archive node) into the database")
    p.add_argument("--days", type=float, default=30.0, help="how far back, ending now (default 30, at most 366)")
    p.add_argument("--start", type=_when, default=None, help="window start, ISO 8601 (instead of --days)")
    p.add_argument("--end", type=_when, default=None, help="window end, ISO 8601 (default: now)")
    p.add_argument("--chain", type=int, action="append", help="only this chain id (repeatable)")
    p.add_argument("--rps", type=float, default=None, help="HTTP requests per second per chain")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
