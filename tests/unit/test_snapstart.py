"""SnapStart hooks (tidewatch.snapstart): order, isolation of failures, registration, random state."""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Iterator

import pytest
import snapshot_restore_py

from tidewatch import runtime, snapstart


def run_runtime_hooks() -> None:
    """What Lambda does around a snapshot: every registered before-snapshot callable, then (in
    the restored container) every after-restore callable, with their registered arguments."""
    for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
        func(*args, **kwargs)
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


@pytest.fixture
def scratch_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[object], list[object]]]:
    """Empty hook lists for one test (the built-in hooks are put back afterwards)."""
    before: list[object] = []
    after: list[object] = []
    monkeypatch.setattr(snapstart, "_before", before)
    monkeypatch.setattr(snapstart, "_after", after)
    return before, after


def test_the_runtime_module_receives_the_runners_once() -> None:
    # Given tidewatch.runtime imported (every handler imports it), which installs the hooks
    assert runtime is not None
    # When install is called again (another handler module importing it)
    assert snapstart.install() is True
    # Then the Lambda runtime's registry holds each runner exactly once
    befores = [f for f, _, _ in snapshot_restore_py.get_before_snapshot() if f is snapstart.run_before_snapshot]
    afters = [f for f, _, _ in snapshot_restore_py.get_after_restore() if f is snapstart.run_after_restore]
    assert len(befores) == 1
    assert len(afters) == 1


def test_without_the_runtime_module_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an interpreter without snapshot_restore_py (local run, tests, plain Lambda cold start)
    monkeypatch.setattr(snapstart, "_installed", False)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError
    # When install is called / Then it reports that there is nothing to hook into
    assert snapstart.install() is False


def test_hooks_run_in_registration_order_and_a_failing_hook_does_not_stop_the_rest(
    scratch_hooks: tuple[list[object], list[object]],
) -> None:
    # Given three after-restore hooks, the second of which fails, and one before-snapshot hook
    calls: list[str] = []

    def fails() -> None:
        calls.append("fails")
        raise RuntimeError("secret store unreachable")

    snapstart.before_snapshot(lambda: calls.append("close"))
    snapstart.after_restore(lambda: calls.append("first"))
    snapstart.after_restore(fails)
    snapstart.after_restore(lambda: calls.append("third"))
    restores = snapstart.restores
    # When the runtime snapshots and restores
    snapstart.run_before_snapshot()
    snapstart.run_after_restore()
    # Then every hook ran, in order, and the restore is counted
    assert calls == ["close", "first", "fails", "third"]
    assert snapstart.restores == restores + 1


def test_a_hook_registered_twice_runs_once(scratch_hooks: tuple[list[object], list[object]]) -> None:
    # Given a module imported twice under two names registering the same callable
    calls: list[int] = []

    def hook() -> None:
        calls.append(1)

    snapstart.after_restore(hook)
    snapstart.after_restore(hook)
    # When restored / Then it runs once
    snapstart.run_after_restore()
    assert calls == [1]


def test_restored_containers_do_not_share_the_snapshot_random_state() -> None:
    # Given the random state as the snapshot froze it
    random.seed(1234)
    frozen = random.getstate()
    # When two containers are restored from that snapshot, each running the runtime's hooks
    draws = []
    for _ in range(2):
        random.setstate(frozen)
        run_runtime_hooks()
        draws.append([random.random() for _ in range(4)])
    # Then they draw different sequences, and neither repeats the snapshot's own next draws
    random.setstate(frozen)
    snapshot_sequence = [random.random() for _ in range(4)]
    assert draws[0] != draws[1]
    assert snapshot_sequence not in draws


def test_numpy_random_state_is_reseeded_only_where_numpy_is_loaded() -> None:
    # Given a function that loaded numpy and seeded its global generator at init
    numpy = importlib.import_module("numpy")
    numpy.random.seed(42)
    frozen = numpy.random.get_state()
    # When two containers restore from that state
    draws = []
    for _ in range(2):
        numpy.random.set_state(frozen)
        run_runtime_hooks()
        draws.append(numpy.random.random(3).tolist())
    # Then their numpy draws differ too
    assert draws[0] != draws[1]


def test_the_risk_models_derived_from_recent_prices_are_reloaded_after_restore() -> None:
    # Given the risk function's models loaded at init (volatility estimated from that day's prices)
    from risk import deps

    deps.production_deps()
    assert deps.production_deps.cache_info().currsize == 1
    # When a container is restored from the snapshot
    run_runtime_hooks()
    # Then its first request loads them afresh
    assert deps.production_deps.cache_info().currsize == 0


def test_the_snapshot_carries_the_client_libraries_imported_on_first_use() -> None:
    # Given the built-in before-snapshot hooks
    # When Lambda is about to snapshot the initialised container
    snapstart.run_before_snapshot()
    # Then the database driver and the Redis client are loaded (restores do not pay for them)
    for name in snapstart.CLIENT_LIBRARIES:
        assert name in sys.modules
