"""Artifacts: round trip, schema checks, and the shipped defaults' model cards."""

from __future__ import annotations

import json

import pytest

from risk.store import read_uri, shipped
from tidewatch.forecast.artifact import apy_model_from, parse_artifact, risk_model_from
from tidewatch.forecast.errors import ArtifactInvalid
from training.store import LocalArtifactStore, publish


def test_shipped_defaults_are_small_and_carry_their_data_window() -> None:
    for kind in ("risk", "apy"):
        artifact = shipped(kind)
        # risk: knots and the volatility table; apy: four heads of exported trees plus the
        # walk-forward card (per market and fold)
        assert len(artifact.to_json()) < (40_000 if kind == "risk" else 160_000)
        assert artifact.card.kind == kind
        assert artifact.card.generated_data is False
        assert artifact.card.data_window.end.year == 2024
        assert artifact.card.training_samples > 1_000


def test_round_trip_through_a_local_store(tmp_path: object) -> None:
    # Given the shipped risk artifact published to a folder
    artifact = shipped("risk")
    uri = publish(LocalArtifactStore(str(tmp_path)), artifact)
    # When read back by URI
    again = parse_artifact(read_uri(uri))
    # Then the model is identical
    a, b = risk_model_from(artifact), risk_model_from(again)
    assert a.version == b.version
    assert [m.p.tolist() for m in a.maps] == [m.p.tolist() for m in b.maps]
    assert a.market.vol("WETH") == b.market.vol("WETH")


def test_malformed_artifacts_are_refused() -> None:
    with pytest.raises(ArtifactInvalid):
        parse_artifact(b'{"kind": "risk"}')
    raw = json.loads(shipped("apy").to_json())
    raw["params"]["heads"].pop("borrow:168")
    with pytest.raises(ArtifactInvalid, match="borrow:168"):
        apy_model_from(parse_artifact(json.dumps(raw)))
    with pytest.raises(ArtifactInvalid, match="expected a risk artifact"):
        risk_model_from(shipped("apy"))
    with pytest.raises(ArtifactInvalid, match="cannot read"):
        read_uri("/nonexistent/model.json")
