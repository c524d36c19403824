"""One built Lambda function in an interpreter of its own, as Lambda runs it (make package-test).

Started as `python3.13 -I -S -B package_worker.py SPEC.json` by tidewatch_local.package_test:
`-I` ignores PYTHON* variables, the user site and the script's folder, `-S` leaves out the
interpreter's site-packages, `-B` writes no bytecode into the build (Lambda's /var/task and /opt
are read-only: what the zip does not ship is compiled at every cold start), so the import path is the standard library plus what the spec names,
in Lambda's order: the function's code folder (/var/task), each layer's python/ folder
(/opt/python), the runtime's own packages (/var/runtime: boto3, snapshot_restore_py). This file
imports the standard library only.

Protocol: one JSON object per line on stdin ({"event": ...}), one answer per line on the original
stdout ({"returned": bool, "result" | "error": ...}); everything the handler prints goes to
stderr, as Lambda sends it to CloudWatch. The first answer reports the init: how long importing
the handler module took and whether the SnapStart hooks ran.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class Context:
    """The attributes and method of Lambda's context object that handlers and Powertools read."""

    def __init__(self, name: str, memory_mb: int, timeout_s: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "package-test"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return {"type": type(exc).__name__, "message": str(exc), "where": where}


def _snapstart_cycle() -> dict[str, int]:
    """What the runtime does around a snapshot: every before-snapshot hook, then every
    after-restore hook, each with the arguments it was registered with."""
    hooks = importlib.import_module("snapshot_restore_py")
    before, after = hooks.get_before_snapshot(), hooks.get_after_restore()
    for func, args, kwargs in before:
        func(*args, **kwargs)
    for func, args, kwargs in after:
        func(*args, **kwargs)
    # The project's own hook lists behind the runners it registered (tidewatch.snapstart).
    project = sys.modules.get("tidewatch.snapstart")
    if project is not None:
        return {"before_snapshot": len(project._before), "after_restore": len(project._after)}
    return {"before_snapshot": len(before), "after_restore": len(after)}


def main() -> int:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the handler's prints and logs go to stderr
    sys.stdout = sys.stderr
    sys.path[:0] = spec["path"]
    module_name, _, attribute = spec["handler"].rpartition(".")
    init: dict[str, Any] = {"returned": True}
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
        init["init_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if spec.get("snapstart"):
            init["snapstart"] = _snapstart_cycle()
    except BaseException as exc:  # an init failure is what Lambda reports as Runtime.ImportModuleError
        init = {"returned": False, "error": _error(exc)}
    outside = [
        p for p in sys.path if p not in spec["path"] and (not p.startswith(spec["stdlib"]) or "site-packages" in p)
    ]
    init["foreign_path"] = outside
    answers.write(json.dumps(init) + "\n")
    if not init["returned"]:
        return 1
    for line in sys.stdin:
        request = json.loads(line)
        context = Context(spec["name"], spec["memory_mb"], spec["timeout_s"])
        try:
            result = handler(request["event"], context)
            answer: dict[str, Any] = {"returned": True, "result": json.loads(json.dumps(result, default=str))}
        except BaseException as exc:  # the function raised: Lambda reports errorType/errorMessage
            answer = {"returned": False, "error": _error(exc)}
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")
    # Lambda freezes and then kills an environment without unwinding it; interpreter shutdown here
    # would wait on the handler's pool threads (psycopg_pool joins them in __del__).
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
