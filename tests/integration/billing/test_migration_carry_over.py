"""Deploying 0710 moves nobody's plan: known subscriptions carry over until Stripe is re-read."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tidewatch.db import Database
from tidewatch.migrate import MIGRATIONS_DIR, apply_migrations

pytestmark = pytest.mark.integration

SUBSCRIPTION_SET = "0710_billing_subscription_set.sql"


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[Database]:
    admin_url = database_url.rpartition("/")[0] + "/test"
    name = database_url.rpartition("/")[2] + "_carry"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    database = Database(admin_url.rpartition("/")[0] + "/" + name)
    yield database
    database.close()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_existing_pro_subscription_is_carried_into_the_subscription_set(
    fresh_database: Database, tmp_path: Path
) -> None:
    # Given a database at the migrations before 0710 with a Pro user in grace
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < SUBSCRIPTION_SET:
            shutil.copy(path, tmp_path / path.name)
    apply_migrations(fresh_database, tmp_path)
    with fresh_database.connection() as conn:
        conn.execute("INSERT INTO users (address, plan) VALUES (%s, 'pro')", ("0x" + "1" * 40,))
        conn.execute(
            "INSERT INTO subscriptions (user_id, stripe_customer_id, stripe_subscription_id, status, plan, "
            "grace_until, subscription_created_at) VALUES (1, 'cus_1', 'sub_1', 'past_due', 'pro', "
            "'2026-12-08T00:00:00Z', '2026-11-01T00:00:00Z')"
        )
        conn.execute("INSERT INTO users (address) VALUES (%s)", ("0x" + "2" * 40,))
        conn.execute("INSERT INTO subscriptions (user_id) VALUES (2)")
    # When 0710 is deployed
    shutil.copy(MIGRATIONS_DIR / SUBSCRIPTION_SET, tmp_path / SUBSCRIPTION_SET)
    assert apply_migrations(fresh_database, tmp_path) == [SUBSCRIPTION_SET.removesuffix(".sql")]
    # Then the known subscription is in the set as it was, and the user without one has none
    with fresh_database.connection() as conn:
        rows = conn.execute(
            "SELECT subscription_id, user_id, customer_id, status, entitled, grace_notified FROM stripe_subscriptions"
        ).fetchall()
    assert rows == [
        {
            "subscription_id": "sub_1",
            "user_id": 1,
            "customer_id": "cus_1",
            "status": "past_due",
            "entitled": True,
            "grace_notified": True,
        }
    ]
