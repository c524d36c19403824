"""The batch reader's plain path accepts only what the pydantic schema accepts, with the same
values, so a malformed batch always gets pydantic's problem body."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from risk import batch
from risk.deps import Models, RiskDeps
from risk.handler import handle
from risk.plain import Legs, legs_of, plain_legs
from tests.unit.forecast.positions import eth_position

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**53, 2**60, 2**300, 0.0, -0.0, 0.5, 1.0, 1.5, 11.0, 1e400, float("nan"),
    "", "0.8", "3000", " 3000", "3_000", "+3", ".5", "5.", "1e5", "1E+5", "1e400", "NaN", "inf", "٣", "abc",
    "WETH", "x" * 33, [], {}, [1], {"a": 1},
]  # fmt: skip


def good_batch() -> dict[str, Any]:
    positions = [eth_position(h, horizon_hours=t).model_dump(mode="json") for h, t in ((1.1, 24), (1.4, 168))]
    positions.append(
        {
            "collateral": [
                {"symbol": "WETH", "amount": 10**18, "decimals": 18, "price_usd": 3000.5, "liquidation_threshold": 0.8},
                {"symbol": "wbtc", "amount": 10**7, "decimals": 8, "price_usd": 60000, "liquidation_threshold": "0.75"},
            ],
            "debt": [{"symbol": "USDC", "amount": 10**9, "decimals": 6, "price_usd": "1"}],
            "volatility": {"weth": 0.9, "WBTC": 1},
        }
    )
    positions.append({"position_id": "no-debt", "collateral": positions[0]["collateral"], "horizon_hours": 720})
    return {"action": "score_risk_batch", "positions": positions}


def _paths(event: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every (container, key) of the event, for the mutations."""
    out: list[tuple[Any, ...]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            out.append((node, key))
            walk(child)

    walk(event)
    return out


@st.composite
def mutated_batches(draw: st.DrawFn) -> dict[str, Any]:
    """A good batch with a few values replaced, keys dropped or added, or legs duplicated."""
    event = copy.deepcopy(good_batch())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(event)
        if not paths:
            break
        container, key = paths[draw(st.integers(0, len(paths) - 1))]
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add", "grow"]))
        if action == "replace":
            container[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "drop":
            del container[key]
        elif action == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(["extra", "symbol", "debt", "volatility", "horizon_hours"]))] = 1
        elif isinstance(container[key], list):
            container[key] = container[key] * draw(st.sampled_from([0, 2, 17, 33]))
    return event


def _validated(event: Any) -> Legs | None:
    try:
        valid = batch._ADAPTER.validate_python(copy.deepcopy(event))
    except ValidationError:
        return None
    positions = valid["positions"]
    return legs_of(positions, [p["collateral"] for p in positions], [p.get("debt", ()) for p in positions])


def _same_columns(a: Legs, b: Legs) -> None:
    assert a.symbols == b.symbols
    for name in ("amount", "decimals", "price", "threshold"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert [len(c) for c in a.collateral] == [len(c) for c in b.collateral]
    assert [len(d) for d in a.debt] == [len(d) for d in b.debt]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(event=mutated_batches())
def test_the_plain_path_accepts_only_what_pydantic_accepts(event: dict[str, Any]) -> None:
    # Given a batch with odd values, missing or extra keys
    # When read by the plain path and validated by pydantic
    plain = plain_legs(event)
    validated = _validated(event)
    # Then the plain path never accepts what pydantic refuses, and reads the same columns
    if plain is not None:
        assert validated is not None
        _same_columns(plain, validated)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(event=mutated_batches())
def test_the_handler_answers_the_same_with_or_without_the_plain_path(
    event: dict[str, Any], models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = RiskDeps(models, None)
    fast = json.dumps(handle(copy.deepcopy(event), deps))
    with monkeypatch.context() as patch:
        patch.setattr(batch, "plain_legs", lambda _event: None)
        slow = json.dumps(handle(copy.deepcopy(event), deps))
    assert fast == slow


def test_a_decoded_json_batch_takes_the_plain_path() -> None:
    event = json.loads(json.dumps(good_batch()))
    legs = plain_legs(event)
    assert legs is not None
    validated = _validated(event)
    assert validated is not None
    _same_columns(legs, validated)


@pytest.mark.parametrize(
    "text",
    ["0", "7", "3000", "0.8", "1.25e3", "12E-2", "000.5", "1e-320", "179769313486231570814527423731704356798070e267"],
)
def test_plain_decimal_strings_read_as_pydantic_reads_them(text: str) -> None:
    event = good_batch()
    event["positions"][0]["collateral"][0]["price_usd"] = text
    plain, validated = plain_legs(event), _validated(event)
    assert (plain is None) == (validated is None) or plain is None
    if plain is not None and validated is not None:
        _same_columns(plain, validated)
