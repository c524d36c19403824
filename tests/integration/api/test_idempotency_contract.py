"""The in-memory Idempotency-Key records (tests/fakes) answer as the Postgres ones: claims, loads,
completions and releases in the same order give the same answers."""

from __future__ import annotations

from typing import Any

import pytest

from api.repository import IdempotencyRepository, PostgresIdempotencyKeys
from tests.fakes.api import InMemoryIdempotencyKeys
from tidewatch.db import Database

pytestmark = pytest.mark.integration


def story(keys: IdempotencyRepository, alice: int, bob: int) -> list[Any]:
    with keys.session() as records:
        out: list[Any] = [
            records.claim(user_id=alice, key="k", route="/portfolios", fingerprint="h1", keep_hours=24),
            records.claim(user_id=alice, key="k", route="/portfolios", fingerprint="h2", keep_hours=24),
            records.claim(user_id=bob, key="k", route="/rules", fingerprint="h3", keep_hours=24),
            records.load(user_id=alice, key="k"),
            records.load(user_id=alice, key="missing"),
        ]
        records.complete(
            user_id=alice,
            key="k",
            status=201,
            headers=[("content-type", "application/json"), ("location", "/portfolios/1")],
            body=b'{"id":1}',
        )
        done = records.load(user_id=alice, key="k")
        assert done is not None
        out.append(done | {"body": bytes(done["body"])})
        records.release(user_id=bob, key="k")
        out += [
            records.load(user_id=bob, key="k"),
            records.claim(user_id=bob, key="k", route="/rules", fingerprint="h4", keep_hours=24),
            records.load(user_id=bob, key="k"),
        ]
    return out


def test_the_in_memory_records_answer_as_postgres(db: Database) -> None:
    # Given two users in Postgres
    users = []
    with db.connection() as conn:
        for address in ("0x" + "a1" * 20, "0x" + "b2" * 20):
            row = conn.execute("INSERT INTO users (address) VALUES (%s) RETURNING id", (address,)).fetchone()
            assert row is not None
            users.append(int(row["id"]))
    # When the same record operations run over Postgres and in memory
    real = story(PostgresIdempotencyKeys(db), *users)
    fake = story(InMemoryIdempotencyKeys(), *users)
    # Then every answer is the same
    assert fake == real
    assert real[:3] == [True, False, True]
    assert real[3]["status"] is None
    assert real[5]["status"] == 201
