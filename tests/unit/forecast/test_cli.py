"""`tidewatch evaluate` / `tidewatch train` as plain functions and through argparse."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from tidewatch_local.commands import forecast
from training.scenarios import generated_history, write_csv_folder


@pytest.fixture(scope="module")
def csv_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv_folder(generated_history(1_500, seed=5), tmp_path_factory.mktemp("generated"))


def test_evaluate_prints_baselines_and_risk_metrics(csv_folder: Path, tmp_path: Path) -> None:
    # Given a folder of CSVs in the shared-data format (generated)
    out = io.StringIO()
    plots = tmp_path / "plots"
    # When evaluated
    status = forecast.evaluate(csv_folder, out=out, monte_carlo_positions=20, plots=plots)
    # Then the report shows APY errors beside both baselines and risk scores beside the references
    text = out.getvalue()
    assert status == 0
    for needle in (
        "persistence MAE",
        "rolling mean MAE",
        "supply:24",
        "borrow:168",
        "closed_form Brier",
        "hf_rule_1.10 Brier",
        "Reliability 24h",
        "Reliability 168h",
        "interval coverage",
        "Brier skill",
    ):
        assert needle in text
    # And the reliability diagrams are PNG files
    for h in (24, 168):
        assert (plots / f"risk-reliability-{h}h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_json_has_the_numbers(csv_folder: Path) -> None:
    out = io.StringIO()
    assert forecast.evaluate(csv_folder, out=out, as_json=True, monte_carlo_positions=0) == 0
    report = json.loads(out.getvalue())
    assert report["apy"]["supply:24"]["pooled"]["persistence"]["mae"] > 0
    assert len(report["apy"]["supply:24"]["folds"]) >= 6
    assert 0.0 <= report["risk"]["slices"]["all"]["model"]["brier"] <= 1.0


def test_bad_folder_is_a_clear_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert forecast.evaluate(tmp_path / "missing") == 2
    assert "data folder not found" in capsys.readouterr().err
    (tmp_path / "rates").mkdir()
    (tmp_path / "rates" / "x.csv").write_text("a,b\n1,2\n")
    assert forecast.evaluate(tmp_path) == 2
    assert "expected columns" in capsys.readouterr().err


def test_train_writes_versioned_artifacts_to_a_folder(csv_folder: Path, tmp_path: Path) -> None:
    # Given the argparse wiring of the lead's CLI
    parser = argparse.ArgumentParser(prog="tidewatch")
    forecast.register(parser.add_subparsers(required=True))
    args = parser.parse_args(
        ["train", "--data", str(csv_folder), "--out", str(tmp_path / "models"), "--mc-positions", "0"]
    )
    # When run
    assert args.func(args) == 0
    # Then each model has a JSON artifact and a model card under kind/version/
    for kind in ("risk", "apy"):
        (version_dir,) = (tmp_path / "models" / kind).iterdir()
        card = json.loads((version_dir / "model.json").read_text())["card"]
        assert card["generated_data"] is False  # a CSV folder is treated as real data unless told otherwise
        assert "Model card" in (version_dir / "card.md").read_text()


def test_train_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert forecast.train(out_dir="x") == 2
    assert "exactly one of --data or --database-url" in capsys.readouterr().err
