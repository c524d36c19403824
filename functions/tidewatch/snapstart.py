"""Lambda SnapStart: what must not be carried from a snapshot into a restored container.

With SnapStart, Lambda runs a function's initialisation once per published version, snapshots the
memory and restores copies of it for every cold start, possibly days later and many at once.
Whatever init left in memory is then shared by every restored container: open sockets (to RDS
Proxy, Redis), the seeded `random` state, secrets read at init (a database password rotated since)
and values derived from the clock at init.

This module owns the two hook lists. Core modules and function packages register callables with
`before_snapshot` and `after_restore`; `install` hands the runners to the runtime's
`snapshot_restore_py` module, which exists inside Lambda's python3.12+ runtimes only. Without it
(local run, tests, a function without SnapStart) nothing is registered and nothing runs, so the
hooks cost nothing there. Hooks run in the order they were registered; one hook's failure is
logged and does not stop the others, because a restore must still serve.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
from collections.abc import Callable
from typing import TypeVar

from tidewatch.observability import logger

Hook = Callable[[], object]
H = TypeVar("H", bound=Hook)

_before: list[Hook] = []
_after: list[Hook] = []
_installed = False
# How many restores this process has been through (0: a plain cold start, or before any restore).
restores = 0


def before_snapshot(hook: H) -> H:
    """Run `hook` just before Lambda snapshots the initialised container (usable as a decorator)."""
    if hook not in _before:
        _before.append(hook)
    return hook


def after_restore(hook: H) -> H:
    """Run `hook` in every container restored from the snapshot, before its first invocation."""
    if hook not in _after:
        _after.append(hook)
    return hook


def _run(phase: str, hooks: list[Hook]) -> None:
    for hook in list(hooks):
        try:
            hook()
        except Exception as exc:  # a failed hook must not fail the restore: log it and go on
            logger.warning(
                "snapstart hook failed",
                extra={"phase": phase, "hook": getattr(hook, "__qualname__", repr(hook)), "error": str(exc)},
            )


def run_before_snapshot() -> None:
    _run("before_snapshot", _before)


def run_after_restore() -> None:
    global restores
    restores += 1
    _run("after_restore", _after)


def install() -> bool:
    """Register the runners with the Lambda runtime's hooks; False where the runtime has none."""
    global _installed
    if _installed:
        return True
    try:
        runtime_hooks = importlib.import_module("snapshot_restore_py")
    except ImportError:
        return False
    runtime_hooks.register_before_snapshot(run_before_snapshot)
    runtime_hooks.register_after_restore(run_after_restore)
    _installed = True
    return True


# Imported on first use to keep plain cold starts short (D44); under SnapStart the snapshot is
# the place to pay for them, so restored containers start with them loaded.
CLIENT_LIBRARIES = ("psycopg", "psycopg_pool", "redis")


@before_snapshot
def import_client_libraries() -> None:
    """Load the database driver and the Redis client into the snapshot (no connection opened)."""
    for name in CLIENT_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:  # a function whose layers do not carry it never uses it
            continue


@after_restore
def reseed_random() -> None:
    """Every restored container would otherwise draw the same `random` (and numpy) sequence.

    Token nonces and ids come from `secrets`/`uuid4` (the kernel's generator, never snapshotted);
    this covers jitter, sampling and anything else seeded at init.
    """
    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")  # only if this function imported it; never imported for this
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "big"))


@after_restore
def forget_cached_secrets() -> None:
    """Secrets read through Powertools Parameters at init are read again on next use."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
