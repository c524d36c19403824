"""Rows the rules tests start from, written straight to Postgres (users, portfolios, rules, rates)."""

from __future__ import annotations

from typing import Any

from tidewatch.db import Database
from tidewatch.rules.model import RuleSpec

KEY = b"test-signing-key-0123456789"


def seed_user(db: Database) -> tuple[int, int]:
    with db.connection() as conn:
        user = conn.execute(
            "INSERT INTO users (address) VALUES ('0x00000000000000000000000000000000000000aa') RETURNING id"
        ).fetchone()
        assert user
        portfolio = conn.execute(
            "INSERT INTO portfolios (user_id, name) VALUES (%s, 'main') RETURNING id", (user["id"],)
        ).fetchone()
        assert portfolio
    return int(user["id"]), int(portfolio["id"])


def insert_rule(db: Database, user_id: int, spec: dict[str, Any]) -> int:
    rule = RuleSpec.model_validate(spec)
    with db.connection() as conn:
        row = conn.execute(
            "INSERT INTO rules (user_id, portfolio_id, name, definition, cadence_seconds, cooldown_seconds) "
            "VALUES (%s, %s, %s, %s::jsonb, %s, %s) RETURNING id",
            (
                user_id,
                rule.portfolio_id,
                rule.name,
                rule.definition().model_dump_json(),
                rule.cadence_seconds,
                rule.cooldown_seconds,
            ),
        ).fetchone()
    assert row
    return int(row["id"])


def seed_users(db: Database) -> tuple[int, int, int, int]:
    with db.connection() as conn:
        ids = []
        for suffix in ("aa", "bb"):
            user = conn.execute(
                "INSERT INTO users (address) VALUES (%s) RETURNING id", ("0x" + "0" * 38 + suffix,)
            ).fetchone()
            assert user
            portfolio = conn.execute(
                "INSERT INTO portfolios (user_id, name) VALUES (%s, 'main') RETURNING id", (user["id"],)
            ).fetchone()
            assert portfolio
            ids += [int(user["id"]), int(portfolio["id"])]
    return ids[0], ids[1], ids[2], ids[3]


def seed_market_rates(db: Database, apy: float) -> None:
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO markets (chain_id, protocol, market_key, asset_symbol, asset_address, asset_decimals) "
            "VALUES (1, 'compound-v3', '0xc3d688B66703497DAA19211EEdff47f25384cdc3', 'USDC', "
            "'0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 6)"
        )
        conn.execute(
            "INSERT INTO market_rates (market_id, block_number, observed_at, supply_apy, borrow_apy) "
            "VALUES (1, 21250000, '2026-11-24T12:00:00Z', %s, 0.07)",
            (apy,),
        )
