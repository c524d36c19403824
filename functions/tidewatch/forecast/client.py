"""How other functions (api, rules) reach the risk function: `RiskFunctionClient`.

The client sends the risk function's typed requests (`tidewatch.forecast.payloads`, the models
its handler parses) over the one invoker (`tidewatch.invoke`): the risk handler in this process
locally, a synchronous Lambda invoke in AWS. A refusal comes back as the domain error the risk
function described.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from tidewatch.invoke import FunctionInvoker, call, invoker_from_settings
from tidewatch.settings import FunctionsSettings

if TYPE_CHECKING:
    from tidewatch.forecast.payloads import ApyBatchRequest, ApyBatchResult, RiskBatchRequest, RiskBatchResult

RISK = "risk"


class RiskClient(Protocol):
    def score_batch(self, request: RiskBatchRequest) -> RiskBatchResult: ...

    def forecast_apy_batch(self, request: ApyBatchRequest) -> ApyBatchResult: ...


class RiskFunctionClient:
    """The risk function over an invoker: one typed request in, one typed answer out."""

    def __init__(self, invoker: FunctionInvoker) -> None:
        self._invoker = invoker

    # The answer models are imported on the first call: the api builds this client at cold start
    # and most requests never reach the risk function.
    def score_batch(self, request: RiskBatchRequest) -> RiskBatchResult:
        from tidewatch.forecast.payloads import RiskBatchResult

        return call(self._invoker, RISK, request, RiskBatchResult)

    def forecast_apy_batch(self, request: ApyBatchRequest) -> ApyBatchResult:
        from tidewatch.forecast.payloads import ApyBatchResult

        return call(self._invoker, RISK, request, ApyBatchResult)


@lru_cache(maxsize=1)
def production_risk_client() -> RiskClient:
    """The risk function as TIDEWATCH_INVOKE_MODE says: its handler in this process, or its Lambda."""
    return RiskFunctionClient(invoker_from_settings(FunctionsSettings()))
