"""Bounds of the storage types, applied at the API boundary so a value the database cannot hold
is a 422 naming the field, never an out-of-range error in a query (or in every later rules tick)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint (ids, market ids)
INTEGER_MAX = 2**31 - 1  # PostgreSQL integer (chain ids, seconds)

DbId = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="A database id (1 … 2^63−1).")]
ChainId = Annotated[int, Field(ge=1, le=INTEGER_MAX, description="An EVM chain id (1 Ethereum, 8453 Base).")]


def parse_id(text: str) -> int | None:
    """A decimal id (ASCII digits only, 1 … 2^63−1), or None if `text` is not one."""
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= BIGINT_MAX else None
