"""`make package-test`'s runner on a small built package: isolation, and one-line failures.

The build here is what `sam build` makes (a template naming one folder per function and per
layer), written by the test so that a layer can be made to lack a module on purpose. The full
run over the real build is `make package-test` itself (run by .ci/run).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tidewatch_local.package_test import run
from tidewatch_local.template import read_template

pytestmark = pytest.mark.integration

HANDLER = """
import importlib.util

import tools  # from the layer, at init


def lambda_handler(event, context):
    if event.get("action") == "report":
        import report_tools  # lazily, on this path only: the layer must still ship it

        return {"ok": True, "result": report_tools.NAME}
    return {"ok": True, "result": {"tools": tools.NAME, "venv_visible": importlib.util.find_spec("pytest") is not None}}
"""


def _build(tmp_path: Path, *, layer_has_report_tools: bool) -> tuple[Path, Path]:
    build = tmp_path / "build"
    (build / "EchoFunction" / "echo").mkdir(parents=True)
    (build / "EchoFunction" / "echo" / "__init__.py").write_text("")
    (build / "EchoFunction" / "echo" / "handler.py").write_text(HANDLER)
    layer = build / "ToolsLayer" / "python"
    layer.mkdir(parents=True)
    (layer / "tools.py").write_text('NAME = "tools"\n')
    if layer_has_report_tools:
        (layer / "report_tools.py").write_text('NAME = "report"\n')
    (build / "template.yaml").write_text(
        textwrap.dedent(
            """\
            Resources:
              ToolsLayer:
                Type: AWS::Serverless::LayerVersion
                Properties: {ContentUri: ToolsLayer}
              EchoFunction:
                Type: AWS::Serverless::Function
                Properties:
                  Handler: echo.handler.lambda_handler
                  CodeUri: EchoFunction
                  Layers: [!Ref ToolsLayer]
                  MemorySize: 128
                  Timeout: 10
            """
        )
    )
    events = tmp_path / "events" / "echo"
    events.mkdir(parents=True)
    (events / "plain.json").write_text(json.dumps({"action": "plain"}))
    (events / "report.json").write_text(json.dumps({"action": "report"}))
    return build, tmp_path / "events"


def _run(tmp_path: Path, *, layer_has_report_tools: bool) -> int:
    build, events = _build(tmp_path, layer_has_report_tools=layer_has_report_tools)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    return run(build, runtime, sys.executable, events, template=read_template(build / "template.yaml"))


def test_a_layer_lacking_a_lazily_imported_module_fails_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function whose layer lacks the module one of its code paths imports lazily
    # When its built package runs its sample events
    status = _run(tmp_path, layer_has_report_tools=False)
    out = capsys.readouterr().out
    # Then the run fails, and one line names the function, the event and the missing module
    assert status == 1
    assert "echo          2 events,   1 passed" in out
    failure = [line for line in out.splitlines() if line.startswith("FAIL echo")]
    assert len(failure) == 1
    assert "events/echo/report.json" in failure[0]
    assert "ModuleNotFoundError: No module named 'report_tools'" in failure[0]


def test_the_same_package_passes_when_the_layer_ships_the_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the same function with the module in its layer / When it runs / Then every event passes
    status = _run(tmp_path, layer_has_report_tools=True)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "echo          2 events,   2 passed" in out


def test_the_function_sees_only_its_package_not_the_virtualenv(tmp_path: Path) -> None:
    # Given the package run in its isolated interpreter
    from tidewatch_local.package_test import Worker, worker_specs

    build, _ = _build(tmp_path, layer_has_report_tools=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    template = read_template(build / "template.yaml")
    spec = worker_specs(template, build, runtime)["echo"]
    worker = Worker("echo", spec, sys.executable, {}, tmp_path)
    try:
        # When its handler runs
        answer = worker.call({"action": "plain"})
    finally:
        worker.stop()
    # Then its path held nothing beyond the package and the standard library (pytest, installed in
    # the virtualenv running this test, is not importable there)
    assert worker.init["foreign_path"] == []
    assert answer["result"]["result"] == {"tools": "tools", "venv_visible": False}
