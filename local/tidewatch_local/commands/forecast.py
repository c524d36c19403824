"""`tidewatch train` and `tidewatch evaluate`: the forecast models from a shell.

Both are plain functions too (`train(...)`, `evaluate(...)`) so tests call them directly. A bad
data folder or database prints one clear line on stderr and returns exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from tidewatch.errors import DomainError


def evaluate(
    data: str | Path | None = None,
    *,
    database_url: str | None = None,
    lookback_days: int = 365,
    out: TextIO | None = None,
    as_json: bool = False,
    monte_carlo_positions: int = 300,
    plots: str | Path | None = None,
    folds: int = 8,
    markdown: bool = False,
) -> int:
    """Score both models walk-forward on `data` (a folder of CSVs) or on the ingest history in
    `database_url` and print the tables; `plots` writes the reliability diagrams (PNG) there."""
    from tidewatch.db import Database
    from tidewatch.forecast.history import load_csv_folder
    from tidewatch.forecast.repository import history_from_database
    from training.pipeline import train_and_evaluate
    from training.report import format_markdown, format_report

    out = out or sys.stdout
    if (data is None) == (database_url is None):
        print("tidewatch evaluate: give exactly one of --data or --database-url", file=sys.stderr)
        return 2
    try:
        if data is not None:
            history = load_csv_folder(data)
        else:
            database = Database(str(database_url))
            try:
                history = history_from_database(database, since=datetime.now(UTC) - timedelta(days=lookback_days))
            finally:
                database.close()
        result = train_and_evaluate(history, monte_carlo_positions=monte_carlo_positions, folds=folds)
    except DomainError as exc:
        print(f"tidewatch evaluate: {exc.detail}", file=sys.stderr)
        return 2
    forecasts = result.report.pop("_risk_forecasts", None)
    if as_json:
        out.write(json.dumps(result.report, indent=1) + "\n")
    else:
        out.write(format_markdown(result.report) if markdown else format_report(result.report))
    if plots is not None and forecasts is not None:
        from training.pipeline import RELIABILITY_EDGES
        from training.plots import reliability_pngs

        for path in reliability_pngs(forecasts, plots, RELIABILITY_EDGES):
            out.write(f"wrote {path}\n")
    return 0


def train(
    *,
    data: str | Path | None = None,
    database_url: str | None = None,
    out_dir: str | Path | None = None,
    bucket: str | None = None,
    prefix: str = "models/",
    lookback_days: int = 365,
    approve_all: bool = False,
    record: bool = True,
    out: TextIO | None = None,
    monte_carlo_positions: int = 300,
    source_label: str | None = None,
) -> int:
    """Train from a CSV folder or Postgres, write artifacts to a folder or S3, record them."""
    from tidewatch.db import Database
    from tidewatch.forecast.history import load_csv_folder
    from tidewatch.forecast.repository import history_from_database
    from training.pipeline import run_training
    from training.report import format_report
    from training.store import ArtifactStore, LocalArtifactStore, S3ArtifactStore

    out = out or sys.stdout
    if (data is None) == (database_url is None):
        print("tidewatch train: give exactly one of --data or --database-url", file=sys.stderr)
        return 2
    if (out_dir is None) == (bucket is None):
        print("tidewatch train: give exactly one of --out or --bucket", file=sys.stderr)
        return 2
    store: ArtifactStore = S3ArtifactStore(bucket, prefix) if bucket else LocalArtifactStore(out_dir or ".")
    database = Database(database_url) if database_url else None
    try:
        if data is not None:
            history = load_csv_folder(data)
            history.source = source_label or history.source
        else:
            assert database is not None
            history = history_from_database(database, since=datetime.now(UTC) - timedelta(days=lookback_days))
        result = run_training(
            history,
            store,
            database if record else None,
            approve_all=approve_all,
            monte_carlo_positions=monte_carlo_positions,
        )
    except DomainError as exc:
        print(f"tidewatch train: {exc.detail}", file=sys.stderr)
        return 2
    finally:
        if database is not None:
            database.close()
    result.report.pop("_risk_forecasts", None)
    out.write(format_report(result.report))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("evaluate", help="evaluate the forecast models walk-forward (rolling-origin folds)")
    ev_src = ev.add_mutually_exclusive_group(required=True)
    ev_src.add_argument("--data", help="folder with rates/*.csv and prices/*.csv (e.g. ../shared/data)")
    ev_src.add_argument("--database-url", help="evaluate on the ingest history of this PostgreSQL database")
    ev.add_argument("--lookback-days", type=int, default=365)
    ev.add_argument("--json", action="store_true", help="print the raw report as JSON")
    ev.add_argument("--mc-positions", type=int, default=300, help="multi-asset positions checked by Monte Carlo")
    ev.add_argument("--plots", help="write the reliability diagrams (PNG, needs matplotlib) to this folder")
    ev.add_argument("--folds", type=int, default=8, help="rolling-origin folds (at least 6 for the published tables)")
    ev.add_argument("--markdown", action="store_true", help="print the tables as Markdown (as in docs/models.md)")
    ev.set_defaults(
        func=lambda a: evaluate(
            a.data,
            database_url=a.database_url,
            lookback_days=a.lookback_days,
            as_json=a.json,
            monte_carlo_positions=a.mc_positions,
            plots=a.plots,
            folds=a.folds,
            markdown=a.markdown,
        )
    )

    tr = subparsers.add_parser("train", help="train the forecast models and publish artifacts")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="folder with rates/*.csv and prices/*.csv")
    src.add_argument("--database-url", help="train from the ingest tables of this PostgreSQL database")
    dst = tr.add_mutually_exclusive_group(required=True)
    dst.add_argument("--out", help="local folder for the artifacts")
    dst.add_argument("--bucket", help="S3 bucket for the artifacts")
    tr.add_argument("--prefix", default="models/")
    tr.add_argument("--lookback-days", type=int, default=365)
    tr.add_argument("--approve", action="store_true", help="approve regardless of the gates")
    tr.add_argument("--mc-positions", type=int, default=300, help="multi-asset positions checked by Monte Carlo")
    tr.add_argument("--source-label", help="how the model card names the CSV data (default: the folder path)")
    tr.set_defaults(
        func=lambda a: train(
            data=a.data,
            database_url=a.database_url,
            out_dir=a.out,
            bucket=a.bucket,
            prefix=a.prefix,
            lookback_days=a.lookback_days,
            approve_all=a.approve,
            monte_carlo_positions=a.mc_positions,
            source_label=a.source_label,
        )
    )
