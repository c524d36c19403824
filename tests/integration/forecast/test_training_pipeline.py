"""Training → artifact (moto S3) → registry (Postgres) → inference, on generated data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from risk import logic
from risk.deps import load_models
from risk.store import shipped
from tests.unit.forecast.positions import eth_position
from tidewatch.db import Database
from tidewatch.forecast.apy_model import columns_from_points, forecast_apy
from tidewatch.forecast.payloads import ApyBatchRequest, ApyForecastRequest, RateObservation
from tidewatch.forecast.repository import history_from_database, newest_approved_uri, stored_rate_history
from tidewatch.forecast.risk_model import score_positions
from training.pipeline import run_training
from training.scenarios import generated_history
from training.store import S3ArtifactStore

pytestmark = pytest.mark.integration

BUCKET = "tidewatch-models-test"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_trained_artifacts_are_published_recorded_and_served(db: Database, s3: Any) -> None:
    # Given generated history (labelled as generated) and an S3 artifact store
    history = generated_history(1_500, seed=9)
    store = S3ArtifactStore(BUCKET, "models/", client=s3)
    # When training runs
    result = run_training(history, store, db, generated_data=True, approve_all=True, monte_carlo_positions=0)
    # Then both artifacts and their model cards are in S3 and recorded as approved
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    for artifact in (result.risk, result.apy):
        base = f"models/{artifact.kind}/{artifact.card.version}/"
        assert {base + "model.json", base + "card.md"} <= keys
        assert newest_approved_uri(db, artifact.kind) == f"s3://{BUCKET}/{base}model.json"
    with db.connection() as conn:
        card = conn.execute("SELECT card FROM model_artifacts WHERE kind = 'risk'").fetchone()["card"]
    assert card["generated_data"] is True
    assert card["data_window"]["start"].startswith("2023-12")
    # And a new container loads exactly those versions and serves with them
    models = load_models(db, s3)
    assert models.risk.version == result.risk.card.version
    assert models.apy.version == result.apy.card.version
    forecasts = score_positions(
        [eth_position(1.1, horizon_hours=168), eth_position(2.0, horizon_hours=168)], models.risk
    )
    assert forecasts[0].probability > forecasts[1].probability


def test_unapproved_artifacts_are_not_served(db: Database, s3: Any) -> None:
    # Given a training run whose artifacts are recorded but not approved
    store = S3ArtifactStore(BUCKET, "models/", client=s3)
    run_training(
        generated_history(1_500, seed=4), store, db, generated_data=True, approve_all=False, monte_carlo_positions=0
    )
    with db.connection() as conn:
        conn.execute("UPDATE model_artifacts SET approved = false")
    # When a container loads models
    models = load_models(db, s3)
    # Then it serves the shipped defaults
    assert models.risk.version == shipped("risk").card.version


def test_broken_registry_entry_falls_back_to_the_shipped_default(db: Database, s3: Any) -> None:
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO model_artifacts (kind, version, uri, approved, card) VALUES ('risk', 'v-broken', %s, true, '{}')",
            (f"s3://{BUCKET}/missing.json",),
        )
    assert load_models(db, s3).risk.version == shipped("risk").card.version


def _store_market_history(db: Database, hours: int = 400) -> int:
    history = generated_history(hours, seed=2)
    rates = history.rates[0]
    weth = history.prices["WETH"]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    with db.connection() as conn:
        market_id = conn.execute(
            """INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals)
               VALUES (1, 'aave-v3', '0xmarket', 'USDC', '0x' || repeat('a', 40), 6) RETURNING id"""
        ).fetchone()["id"]
        times = [start + timedelta(hours=i) for i in range(hours)]
        utils = [float(u) for u in rates.utilization.values[:hours]]
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy, utilization,
                   total_supplied, total_borrowed, price_usd) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1)""",
                [
                    (
                        market_id,
                        i,
                        at,
                        rates.supply.values[i],
                        rates.borrow.values[i],
                        utils[i],
                        10**13,
                        int(utils[i] * 10**13),
                    )
                    for i, at in enumerate(times)
                ],
            )
            cur.executemany(
                "INSERT INTO asset_prices (chain_id, asset_symbol, observed_at, price_usd) VALUES (1, 'WETH', %s, %s)",
                [(at, float(weth.values[i])) for i, at in enumerate(times)],
            )
    return int(market_id)


def test_apy_forecast_by_market_id_reads_stored_history(db: Database) -> None:
    # Given a market with 400 hours of ingested rates
    market_id = _store_market_history(db)
    models = load_models(None)
    # When the api asks for forecasts by market id only
    result = logic.forecast_many(
        [ApyForecastRequest(market_id=market_id, side="supply", horizon_hours=168)], models, db
    )
    # Then the forecast starts from the stored latest APY and names the stored market
    (forecast,) = result
    assert forecast.market_id == market_id
    assert forecast.market == "aave-v3:1:USDC"
    assert forecast.current_apy > 0
    assert forecast.lower <= forecast.predicted_apy <= forecast.upper


def test_stored_history_columns_forecast_like_the_same_readings_given_as_points(db: Database) -> None:
    # Given a stored market with missing utilisations, prices and rates among its readings
    market_id = _store_market_history(db, hours=600)
    with db.connection() as conn:
        conn.execute(
            "UPDATE market_rates SET utilization = NULL WHERE market_id = %s AND block_number %% 7 = 3", (market_id,)
        )
        conn.execute(
            "UPDATE market_rates SET price_usd = NULL WHERE market_id = %s AND block_number %% 11 = 4", (market_id,)
        )
        conn.execute(
            "UPDATE market_rates SET borrow_apy = NULL WHERE market_id = %s AND block_number %% 13 = 5", (market_id,)
        )
        stored = conn.execute(
            """SELECT r.observed_at, r.supply_apy, r.borrow_apy, r.utilization, r.total_supplied, r.price_usd
               FROM market_rates r WHERE r.market_id = %s ORDER BY r.observed_at""",
            (market_id,),
        ).fetchall()
    # When it is read as columns, and the same rows are turned into readings one by one
    since = datetime.now(UTC) - timedelta(days=60)
    histories, keys = stored_rate_history(db, [market_id], since=since)
    points = [
        RateObservation(
            observed_at=r["observed_at"],
            supply_apy=None if r["supply_apy"] is None else float(r["supply_apy"]),
            borrow_apy=None if r["borrow_apy"] is None else float(r["borrow_apy"]),
            utilization=None if r["utilization"] is None else min(1.5, float(r["utilization"])),
            deposits_usd=None
            if r["price_usd"] is None
            else float(r["total_supplied"]) / 10.0**6 * float(r["price_usd"]),
        )
        for r in stored
    ]
    expected = columns_from_points(points)
    # Then the columns are the readings' values, and both forecast the same numbers
    got = histories[market_id]
    for name in ("seconds", "supply_apy", "borrow_apy", "utilization", "deposits_usd"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    models = load_models(None)
    for side in ("supply", "borrow"):
        for horizon in (24, 168):
            request = ApyForecastRequest(market_id=market_id, side=side, horizon_hours=horizon)
            (from_columns,) = forecast_apy([request], models.apy, histories, keys)
            given = ApyForecastRequest(market=keys[market_id], side=side, horizon_hours=horizon, history=points)
            (from_points,) = forecast_apy([given], models.apy)
            assert from_columns.model_dump(exclude={"market_id"}) == from_points.model_dump(exclude={"market_id"})


def test_training_history_reads_the_ingest_tables(db: Database) -> None:
    _store_market_history(db)
    history = history_from_database(db, since=datetime.now(UTC) - timedelta(days=30))
    assert list(history.prices) == ["WETH"]
    assert history.rates[0].supply.values.size == 400
    assert history.rates[0].utilization.values[-1] > 0
    assert history.rates[0].market == "aave-v3:1:USDC"
    assert history.rates[0].deposits is not None


def test_weekly_training_entry_point_reads_postgres_and_publishes(db: Database, s3: Any) -> None:
    # Given 1,200 hours of ingested rates and prices
    _store_market_history(db, hours=1_200)
    from tidewatch.events import ScheduledEvent
    from training.logic import train

    event = ScheduledEvent.model_validate(
        {"id": "e1", "detail-type": "Scheduled Event", "source": "aws.events", "time": datetime.now(UTC).isoformat()}
    )
    # When the scheduled training runs
    result = train(event, database=db, store=S3ArtifactStore(BUCKET, "models/", client=s3), lookback_days=365)
    # Then both kinds are published and recorded
    assert sorted(p["kind"] for p in result["published"]) == ["apy", "risk"]
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM model_artifacts").fetchone()["n"] == 2


def test_serving_volatility_comes_from_recent_ingested_prices(db: Database) -> None:
    # Given 400 hours of WETH prices generated with 60 % annual volatility
    _store_market_history(db)
    # When a container loads its models with the database available
    models = load_models(db)
    # Then WETH's volatility is re-estimated from those prices, not taken from the artifact
    shipped_vol = shipped("risk").params["market"]["volatility"]["WETH"]
    assert models.risk.market.vol("WETH") != shipped_vol
    assert 0.4 < models.risk.market.vol("WETH") < 0.8
    # and assets without recent prices keep the artifact's estimate
    assert models.risk.market.vol("LINK") == shipped("risk").params["market"]["volatility"]["LINK"]


def test_evaluate_command_reads_the_ingest_history(db: Database, database_url: str) -> None:
    # Given 1,200 hours of ingested history
    _store_market_history(db, hours=1_200)
    import io

    from tidewatch_local.commands import forecast

    out = io.StringIO()
    # When evaluated from the database instead of a CSV folder
    status = forecast.evaluate(database_url=database_url, out=out, monte_carlo_positions=0)
    # Then the same report is printed
    assert status == 0
    assert "postgres:market_rates+asset_prices" in out.getvalue()
    assert "persistence MAE" in out.getvalue()


def test_unreachable_database_serves_the_shipped_models() -> None:
    # Given a database URL nobody listens on
    database = Database("postgresql://127.0.0.1:1/nothing", connect_timeout=1)
    try:
        # When a container loads its models
        models = load_models(database)
    finally:
        database.close()
    # Then the shipped defaults serve
    assert models.risk.version == shipped("risk").card.version
    assert models.apy.version == shipped("apy").card.version


def test_a_stored_market_the_model_does_not_beat_is_served_persistence(db: Database) -> None:
    # Given a stored market whose key the shipped model lists as "persistence" for supply 24 h
    market_id = _store_market_history(db)
    models = load_models(None)
    head = models.apy.head("supply", 24)
    with db.connection() as conn:
        conn.execute("UPDATE markets SET asset_symbol = 'WBTC' WHERE id = %s", (market_id,))
    assert "aave-v3:1:WBTC" in head.persistence_markets
    # When the api's batch call forecasts it by id
    result = logic.forecast_batch(
        ApyBatchRequest(requests=[ApyForecastRequest(market_id=market_id, side="supply", horizon_hours=24)]),
        models,
        db,
    )
    # Then the current value is served and the response says why
    (forecast,) = result.forecasts
    assert forecast.method == "persistence"
    assert forecast.predicted_apy == forecast.current_apy
    assert "did not beat persistence" in (forecast.method_reason or "")


def test_a_stored_market_the_rolling_mean_beat_is_served_the_rolling_mean(db: Database) -> None:
    # Given a stored Aave USDC market, which the shipped model serves the rolling mean for supply 24 h
    market_id = _store_market_history(db)
    models = load_models(None)
    assert "aave-v3:1:USDC" in models.apy.head("supply", 24).rolling_mean_markets
    # When the api's batch call forecasts it by id at 24 h and at 7 days
    result = logic.forecast_batch(
        ApyBatchRequest(
            requests=[
                ApyForecastRequest(market_id=market_id, side="supply", horizon_hours=24),
                ApyForecastRequest(market_id=market_id, side="supply", horizon_hours=168),
            ]
        ),
        models,
        db,
    )
    # Then the 24 h point is the mean of the last 24 stored hours, saying why, inside its interval;
    # the 7-day head serves its model there
    day, week = result.forecasts
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT supply_apy FROM market_rates WHERE market_id = %s ORDER BY observed_at DESC LIMIT 24",
            (market_id,),
        ).fetchall()
    assert day.method == "rolling_mean"
    assert day.predicted_apy == pytest.approx(np.mean([float(r["supply_apy"]) for r in rows]))
    assert "rolling mean of the last 24 h" in (day.method_reason or "")
    assert day.lower <= day.predicted_apy <= day.upper
    assert week.method == "model"
    assert week.method_reason is None
