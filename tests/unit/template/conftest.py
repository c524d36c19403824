"""The template, parsed with the same reader the local gateway uses (CloudFormation tags kept as data)."""

from __future__ import annotations

from typing import Any

import pytest

from tidewatch_local.template import load_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]
