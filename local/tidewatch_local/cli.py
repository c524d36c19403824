"""`tidewatch`: the one command interface for people and CI.

    tidewatch dev                         start the whole system locally
    tidewatch invoke FUNCTION EVENT.json  run a handler on an event as Lambda would
    tidewatch migrate                     apply database migrations

Further commands come from modules in tidewatch_local.commands (each has `register(subparsers)`).
Errors are one-line messages on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tidewatch_local import commands
from tidewatch_local.migrate import migrate_database


class CliError(Exception):
    """A user-facing failure: printed as `tidewatch: <message>` with exit status 2."""


def _invoke_one(invoker: Any, function: str, event: dict[str, Any]) -> tuple[Any, bool]:
    """(what Lambda would return, whether the handler returned rather than raised)."""
    from tidewatch_local.sample_session import prepare_event

    try:
        return invoker.invoke(function, prepare_event(invoker, event)), True
    except Exception as exc:  # the function raised: Lambda reports errorType/errorMessage
        return {"errorType": type(exc).__name__, "errorMessage": str(exc)}, False


def _cmd_invoke(args: argparse.Namespace) -> int:
    from tidewatch_local.invoker import InvokeError, LocalInvoker, read_event
    from tidewatch_local.stack import apply_environment, resolve_stack

    invoker = LocalInvoker()
    if args.all:
        # Every sample: events/<function>/<name>.json, the folder naming the function.
        folder = Path(args.function)
        targets = [(path.parent.name, path) for path in sorted(folder.rglob("*.json"))]
        if not targets:
            raise CliError(f"no events under {folder}")
    else:
        if args.event is None:
            raise CliError("usage: tidewatch invoke FUNCTION EVENT.json (or --all [FOLDER])")
        targets = [(args.function, Path(args.event))]
    events = [(function, path, read_event(path)) for function, path in targets]
    for function, _, _ in events:
        try:
            invoker.template.function(function)  # fail fast on an unknown function, before starting stores
        except KeyError as exc:
            raise InvokeError(str(exc.args[0])) from exc
    stack = resolve_stack()
    try:
        apply_environment(stack)
        migrate_database(stack.database_url, quiet=True)
        results: dict[str, Any] = {}
        all_returned = True
        # As with `sam local invoke`: the function's logs go to stderr, its result to stdout.
        # Handlers are imported inside the redirect so that their loggers write to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            for function, path, event in events:
                results[str(path)], returned = _invoke_one(invoker, function, event)
                all_returned = all_returned and returned
        print(json.dumps(results if args.all else results[str(events[0][1])], indent=2))
        return 0 if all_returned else 1
    finally:
        stack.close()


def _cmd_migrate(args: argparse.Namespace) -> int:
    from tidewatch_local.stack import resolve_stack

    stack = resolve_stack()
    try:
        migrate_database(stack.database_url)
    finally:
        stack.close()
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from tidewatch_local.devserver import run_dev

    return run_dev(
        host=args.host,
        port=args.port,
        schedules=not args.no_schedules,
        tick=args.tick,
        gateway_processes=args.gateway_processes,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidewatch", description="Tidewatch local run and tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    invoke = sub.add_parser("invoke", help="run a function's handler on an event, as Lambda would")
    invoke.add_argument(
        "function",
        help="function name from template.yaml (api, ingest, rules, risk, wallet, ...); with --all, a folder",
    )
    invoke.add_argument("event", nargs="?", help="path of a JSON event, e.g. events/ingest/scheduled.json")
    invoke.add_argument(
        "--all", action="store_true", help="invoke every events/<function>/*.json under the folder; print a JSON map"
    )
    invoke.set_defaults(func=_cmd_invoke)

    dev = sub.add_parser("dev", help="start Tidewatch locally (gateway, schedules, stores, devnet)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--no-schedules", action="store_true", help="do not fire the EventBridge schedules")
    dev.add_argument(
        "--tick", type=float, default=None, metavar="SECONDS", help="fire every schedule this often instead of its rate"
    )
    dev.add_argument(
        "--gateway-processes",
        type=int,
        default=None,
        metavar="N",
        help="serve the gateway from N processes sharing the port (default: TIDEWATCH_DEV_GATEWAY_PROCESSES or 1)",
    )
    dev.set_defaults(func=_cmd_dev)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=_cmd_migrate)

    for module_info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from tidewatch_local.invoker import InvokeError

        if os.environ.get("TIDEWATCH_TRACEBACK"):
            raise
        if isinstance(exc, CliError | InvokeError | FileNotFoundError | ValueError):
            print(f"tidewatch: {exc}", file=sys.stderr)
            return 2
        # Anything else is still one line (set TIDEWATCH_TRACEBACK=1 for the full traceback).
        print(f"tidewatch: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
