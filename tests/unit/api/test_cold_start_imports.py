"""The api's cold start imports neither the X-Ray SDK (tracing off) nor pydantic.v1, and FastAPI
still refuses pydantic.v1 models once pydantic.v1 is imported."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.exceptions import PydanticV1NotSupportedError

import api.pydantic_v1_check  # noqa: F401  # installs the check, as api.app does
from tests.import_probe import modules_after

ROOT = Path(__file__).resolve().parents[3]


def _modules_after(statement: str, **env: str) -> set[str]:
    return modules_after(statement, timeout=120, AWS_DEFAULT_REGION="us-east-1", **env)


def test_the_api_handler_imports_no_xray_sdk_no_pydantic_v1_and_no_protocol_adapters() -> None:
    # Given tracing disabled, as the local run and the benchmark configure it
    # When the api's handler module is imported in a fresh interpreter
    loaded = _modules_after("import api.handler", POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_NAMESPACE="Test")
    # Then the X-Ray recorder, pydantic.v1 and the chain's ABI stack were not loaded
    assert "api.app" in loaded
    assert not loaded & {"aws_xray_sdk.core", "pydantic.v1", "tidewatch.protocols.adapters", "eth_abi"}


def test_with_tracing_on_the_tracer_records_through_xray() -> None:
    # Given a Lambda environment with tracing enabled
    loaded = _modules_after(
        "from tidewatch.observability import tracer; assert 'aws_xray_sdk' in type(tracer.provider).__module__",
        LAMBDA_TASK_ROOT="/var/task",
    )
    # Then the X-Ray SDK is the provider
    assert "aws_xray_sdk.core" in loaded


def test_fastapi_still_refuses_a_pydantic_v1_model_once_pydantic_v1_is_imported() -> None:
    # Given a pydantic.v1 model (pydantic.v1 is imported now)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydantic import v1

    class Legacy(v1.BaseModel):
        name: str

    app = FastAPI()

    # When a route declares it as its response model, Then FastAPI refuses it as before
    with pytest.raises(PydanticV1NotSupportedError):
        app.add_api_route("/legacy", lambda: None, response_model=Legacy)
