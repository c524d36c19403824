"""`make package-test`: every function's built package, run as Lambda runs it, on its sample events.

`sam build` makes one folder per function (its code: what Lambda puts in /var/task) and one per
layer (its `python/` folder: /opt/python). For every function in the template this starts a fresh
interpreter in isolated mode (tidewatch_local.package_worker) whose import path holds only that
function's folder, its layers' `python/` folders and the Lambda runtime's own packages, imports the
handler the template names and runs every sample event of the function (events/<name>/*.json)
through it, against real PostgreSQL and Redis (a database and logical database of its own).

Calls between functions cross process boundaries as in AWS: functions run with
`TIDEWATCH_INVOKE_MODE=lambda`, and boto3's Lambda endpoint points at a loopback server here that
hands each Invoke to the callee's own worker. Sign-in for events that need a session goes through
the packaged api too (tidewatch_local.sample_session). A SnapStart function runs its
before-snapshot and after-restore hooks between init and its first event, as after a restore.

One line per function (events run, passed, init time); a failure prints one line naming the
function, the event and the error (for an HTTP 5xx, the exception the function logged, e.g. the
missing module). Exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import redis

from tidewatch_local.invoker import read_event
from tidewatch_local.stack import LOCAL_ENVIRONMENT
from tidewatch_local.stripe_events import LOCAL_WEBHOOK_SECRET
from tidewatch_local.template import REPO_ROOT, TemplateModel, load_template, read_template

WORKER = Path(__file__).with_name("package_worker.py")
ADMIN_URL = os.environ.get("TIDEWATCH_TEST_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TIDEWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Exceptions named in what a function logged (Powertools' JSON lines escape the traceback's newlines).
_EXCEPTION = re.compile(r"(?:^|\s|\\n)((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)): ((?:[^\"\\\n]|\\\")+)")


class PackageTestError(Exception):
    """The test could not run (no build, no interpreter): one line on stderr, exit status 2."""


@dataclass
class EventOutcome:
    """Whether one sample event gave the expected answer from the packaged function."""

    event: str
    passed: bool
    detail: str = ""


@dataclass
class FunctionReport:
    name: str
    init_ms: float | None = None
    snapstart: dict[str, int] | None = None
    outcomes: list[EventOutcome] = field(default_factory=list)
    init_error: str | None = None

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    def line(self) -> str:
        if self.init_error:
            return f"{self.name:<11} init FAILED: {self.init_error}"
        hooks = (
            f", SnapStart: {self.snapstart['before_snapshot']} before-snapshot and {self.snapstart['after_restore']} after-restore hooks ran"
            if self.snapstart
            else ""
        )
        return f"{self.name:<11} {len(self.outcomes):>3} events, {self.passed:>3} passed  (init {self.init_ms:.0f} ms{hooks})"


class Worker:
    """One function's isolated interpreter; `call` runs one event through its handler."""

    def __init__(self, name: str, spec: dict[str, Any], python: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.timeout = spec["timeout_s"] + 15
        spec_path = log_dir / f"{name}.spec.json"
        spec_path.write_text(json.dumps(spec))
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [python, "-I", "-S", "-B", str(WORKER), str(spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
        )
        self.init = self._read()

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        timer = threading.Timer(self.timeout, self._process.kill)
        timer.start()
        try:
            line = self._process.stdout.readline()
        finally:
            timer.cancel()
        if not line:
            code = self._process.poll()
            return {"returned": False, "error": {"type": "WorkerExited", "message": f"exit status {code}", "where": ""}}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def logged_exception(self, since: int) -> str | None:
        """The last exception the function logged since byte `since` of its log, as one line."""
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode(errors="replace")
        found = _EXCEPTION.findall(text)
        return f"{found[-1][0]}: {found[-1][1].strip()}" if found else None

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps({"event": event}) + "\n")
            self._process.stdin.flush()
            return self._read()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self._process.stdin:
                self._process.stdin.close()
            self._process.wait(timeout=10)
        if self._process.poll() is None:
            self._process.kill()
        self._log.close()


def _built_folder(build_dir: Path, value: Any) -> Path:
    folder = build_dir / str(value)
    if not folder.is_dir():
        raise PackageTestError(f"{folder} is missing: run sam build first (make package-test does)")
    return folder


def worker_specs(template: TemplateModel, build_dir: Path, runtime_dir: Path) -> dict[str, dict[str, Any]]:
    """Per function: its import path (code, layers, runtime) and what the worker needs to run it."""
    built = load_template(build_dir / "template.yaml")["Resources"]
    stdlib = sysconfig.get_paths()["stdlib"].rsplit("/", 1)[0]
    specs: dict[str, dict[str, Any]] = {}
    for spec in template.functions.values():
        props = built[spec.logical_id]["Properties"]
        path = [str(_built_folder(build_dir, props["CodeUri"]))]
        for layer in spec.layers:
            path.append(str(_built_folder(build_dir, built[layer]["Properties"]["ContentUri"]) / "python"))
        path.append(str(runtime_dir))
        snap = template.raw["Resources"][spec.logical_id]["Properties"].get("SnapStart")
        specs[spec.short_name] = {
            "name": spec.short_name,
            "handler": spec.handler,
            "path": path,
            "stdlib": stdlib,
            "memory_mb": spec.memory_mb,
            "timeout_s": spec.timeout_s,
            "snapstart": snap is not None,
        }
    return specs


class Fleet:
    """The workers (started on first use) and the `invoke` that sample_session and the loopback
    Lambda endpoint use; `template` is what sample_session reads routes from."""

    def __init__(
        self, template: TemplateModel, specs: dict[str, dict[str, Any]], python: str, env: dict[str, str], log_dir: Path
    ) -> None:
        self.template = template
        self._specs = specs
        self._python = python
        self._env = env
        self._log_dir = log_dir
        self._workers: dict[str, Worker] = {}
        self._start_lock = threading.Lock()

    def worker(self, name: str) -> Worker:
        short = self.template.function(name).short_name
        with self._start_lock:
            if short not in self._workers:
                env = {
                    **self._env,
                    "AWS_LAMBDA_FUNCTION_NAME": short,
                    "LAMBDA_TASK_ROOT": self._specs[short]["path"][0],
                }
                env.update(_plain_environment(self.template, short))
                env.update(QUEUE_STAND_INS)
                self._workers[short] = Worker(short, self._specs[short], self._python, env, self._log_dir)
            return self._workers[short]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        answer = self.worker(name).call(event)
        if not answer["returned"]:
            error = answer["error"]
            raise RuntimeError(f"{name} raised {error['type']}: {error['message']}")
        return answer["result"]

    def stop(self) -> None:
        for worker in self._workers.values():
            worker.stop()


# The template points alert deliveries at an SQS queue, which has no stand-in on loopback here:
# they go through the in-process queue of the local run instead (the SQS transport is covered by
# the alerts tests against moto). Every other call between functions crosses the Lambda endpoint.
QUEUE_STAND_INS = {"TIDEWATCH_ALERTS_QUEUE_MODE": "local"}


def _plain_environment(template: TemplateModel, short: str) -> dict[str, str]:
    """The function's template variables that are plain strings (the rest name AWS resources)."""
    spec = template.function(short)
    return {k: str(v) for k, v in spec.environment.items() if isinstance(v, str | int | float)}


def _lambda_endpoint(fleet: Fleet) -> ThreadingHTTPServer:
    """Lambda's Invoke API on loopback: POST /2015-03-31/functions/NAME/invocations."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            match = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", self.path.split("?")[0])
            length = int(self.headers.get("content-length") or 0)
            payload = json.loads(self.rfile.read(length) or b"null")
            if match is None:
                self.send_response(404)
                self.end_headers()
                return
            name = match.group(1).rsplit(":", 1)[-1] if ":function:" in match.group(1) else match.group(1)
            answer = fleet.worker(name).call(payload)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            if answer["returned"]:
                body = json.dumps(answer["result"]).encode()
            else:
                self.send_header("X-Amz-Function-Error", "Unhandled")
                body = json.dumps(
                    {"errorType": answer["error"]["type"], "errorMessage": answer["error"]["message"]}
                ).encode()
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _succeeded(result: Any) -> bool:
    if isinstance(result, dict) and "statusCode" in result:
        return 200 <= int(result["statusCode"]) < 400
    if isinstance(result, dict) and "batchItemFailures" in result:  # an SQS batch: nothing to redeliver
        return result["batchItemFailures"] == []
    return isinstance(result, dict) and result.get("ok") is True


def _describe(result: Any) -> str:
    if isinstance(result, dict) and "statusCode" in result:
        return f"HTTP {result['statusCode']} {str(result.get('body', ''))[:160]}"
    return json.dumps(result)[:200]


def run_function(fleet: Fleet, name: str, events: list[Path], root: Path = REPO_ROOT) -> FunctionReport:
    from tidewatch_local.sample_session import prepare_event

    report = FunctionReport(name)
    worker = fleet.worker(name)
    if not worker.init["returned"]:
        error = worker.init["error"]
        report.init_error = f"{error['type']}: {error['message']} ({error['where']})"
        return report
    if worker.init["foreign_path"]:
        report.init_error = f"import path holds folders outside the package: {worker.init['foreign_path']}"
        return report
    report.init_ms = worker.init["init_ms"]
    report.snapstart = worker.init.get("snapstart")
    for path in events:
        label = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        refusal = "rejected" in path.stem  # samples of a refusal on purpose carry it in their name
        since = worker.log_size()
        try:
            event = prepare_event(fleet, read_event(path))  # type: ignore[arg-type]  # duck-typed invoker
            answer = worker.call(event)
        except Exception as exc:  # the sign-in before the event failed (it runs in the package too)
            logged = worker.logged_exception(since)
            said = str(exc).split(" {", 1)[0]  # the problem+json body adds nothing to the logged error
            report.outcomes.append(
                EventOutcome(label, False, f"{type(exc).__name__}: {said}" + (f"; logged {logged}" if logged else ""))
            )
            continue
        if not answer["returned"]:
            error = answer["error"]
            report.outcomes.append(
                EventOutcome(label, False, f"raised {error['type']}: {error['message']} ({error['where']})")
            )
            continue
        result = answer["result"]
        if _succeeded(result) is not refusal:
            report.outcomes.append(EventOutcome(label, True))
            continue
        logged = worker.logged_exception(since)
        expected = "a refusal" if refusal else "success"
        got = (
            f"HTTP {result['statusCode']}, logged {logged}" if logged and "statusCode" in result else _describe(result)
        )
        report.outcomes.append(EventOutcome(label, False, f"expected {expected}, got {got}"))
    return report


def _new_stores() -> tuple[str, str]:
    name = f"tw_package_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # our own generated name
    admin_client = redis.Redis.from_url(REDIS_URL)
    index = int(admin_client.incr("tw:test:db-allocator")) % 15 + 1  # the tests' allocator
    admin_client.close()
    redis_url = f"{REDIS_URL.rpartition('/')[0]}/{index}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return f"{ADMIN_URL.rpartition('/')[0]}/{name}", redis_url


def _drop_database(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


def environment(database_url: str, redis_url: str, endpoint: str) -> dict[str, str]:
    """What every packaged function sees: the local run's settings, Lambda-mode calls to the
    loopback endpoint, and the variables Lambda itself sets."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
    return {
        **keep,
        **LOCAL_ENVIRONMENT,
        "POWERTOOLS_METRICS_NAMESPACE": "TidewatchPackageTest",
        "TIDEWATCH_INVOKE_MODE": "lambda",
        "TIDEWATCH_RISK_FUNCTION_NAME": "risk",
        "TIDEWATCH_WALLET_FUNCTION_NAME": "wallet",
        "AWS_ENDPOINT_URL_LAMBDA": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "TIDEWATCH_DATABASE_URL": database_url,
        "TIDEWATCH_REDIS_URL": redis_url,
        "TIDEWATCH_JWT_KEYS": json.dumps({"package-1": secrets.token_urlsafe(48)}),
        "TIDEWATCH_JWT_ACTIVE_KID": "package-1",
        "TIDEWATCH_STRIPE_WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET,
    }


def run(
    build_dir: Path,
    runtime_dir: Path,
    python: str,
    events_dir: Path,
    only: list[str] | None = None,
    template: TemplateModel | None = None,
) -> int:
    template = template or read_template()
    specs = worker_specs(template, build_dir, runtime_dir)
    names = [n for n in specs if not only or n in only]
    # Migrations first: the other functions need the schema, and it comes from the package too.
    names.sort(key=lambda n: n != "migrations")
    database_url, redis_url = _new_stores()
    saved = dict(os.environ)
    # Each function's log (what Lambda would send to CloudWatch), kept for reading after a failure.
    logs = build_dir.parent / f"{build_dir.name}-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    if True:
        fleet = Fleet(template, specs, python, {}, logs)
        server = _lambda_endpoint(fleet)
        env = environment(database_url, redis_url, f"http://127.0.0.1:{server.server_address[1]}")
        fleet._env = env
        # sample_session signs in as the user's wallet would; it reads the same site settings.
        os.environ.update(env)
        reports: list[FunctionReport] = []
        try:
            for name in names:
                events = sorted((events_dir / name).glob("*.json"))
                report = run_function(fleet, name, events, events_dir.parent)
                reports.append(report)
                print(report.line(), flush=True)
                for outcome in report.outcomes:
                    if not outcome.passed:
                        print(f"FAIL {name} {outcome.event}: {outcome.detail}", flush=True)
        finally:
            fleet.stop()
            server.shutdown()
            os.environ.clear()
            os.environ.update(saved)
            _drop_database(database_url)
        failed = [r for r in reports if r.init_error or r.passed < len(r.outcomes)]
        total = sum(len(r.outcomes) for r in reports)
        passed = sum(r.passed for r in reports)
        print(f"package-test: {len(reports)} functions, {total} events, {passed} passed, {total - passed} failed")
        if failed:
            for report in failed:
                if report.init_error:
                    print(f"FAIL {report.name} (init): {report.init_error}")
            print(f"package-test: each function's log is in {logs}/")
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="package-test", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, required=True, help="sam build's output folder")
    parser.add_argument(
        "--runtime-dir", type=Path, required=True, help="the Lambda runtime's packages (boto3, snapshot_restore_py)"
    )
    parser.add_argument("--python", required=True, help="the python3.13 interpreter the functions run on")
    parser.add_argument("--events", type=Path, default=REPO_ROOT / "events")
    parser.add_argument("functions", nargs="*", help="only these functions (short names)")
    args = parser.parse_args(argv)
    try:
        if not (args.build_dir / "template.yaml").exists():
            raise PackageTestError(
                f"no built template in {args.build_dir}: run sam build first (make package-test does)"
            )
        if not Path(args.python).exists():
            raise PackageTestError(f"no interpreter at {args.python}")
        return run(args.build_dir, args.runtime_dir, args.python, args.events, args.functions or None)
    except PackageTestError as exc:
        print(f"package-test: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
