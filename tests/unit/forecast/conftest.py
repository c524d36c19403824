from __future__ import annotations

import pytest

from risk.deps import Models
from risk.store import shipped
from tidewatch.forecast.artifact import apy_model_from, risk_model_from


@pytest.fixture(scope="session")
def models() -> Models:
    return Models(risk=risk_model_from(shipped("risk")), apy=apy_model_from(shipped("apy")))
